package harness

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// ErrNotRunning is returned by the merged-view look-ups of a stopped peer.
var ErrNotRunning = errors.New("peer is not running")

// Paths given to these helpers are relative to the merged view's root (so
// they start with the arena, e.g. "shared/dir/file"), slash-separated, clean.

// Path returns where the test process reaches path of the peer's merged
// view: /proc/PID/root/MOUNT/path ("." is the merged view's root). It fails
// the test if the peer is not running or path is not clean.
func (p *Peer) Path(path string) string {
	p.h.t.Helper()
	full, err := p.resolve(path)
	if err != nil {
		p.h.t.Fatalf("harness: %v", err)
	}
	return full
}

// resolve is Path returning an error.
func (p *Peer) resolve(path string) (string, error) {
	if err := checkPath(path); err != nil {
		return "", fmt.Errorf("%s: %w", p, err)
	}
	if !p.Running() {
		return "", fmt.Errorf("%s: %s: %w", p, path, ErrNotRunning)
	}
	return p.path(path), nil
}

func (p *Peer) path(path string) string {
	return filepath.Join(p.proc.Root(), p.Mount, filepath.FromSlash(path))
}

// UpperPath returns STORE/upper/path.
func (p *Peer) UpperPath(path string) string {
	p.h.t.Helper()
	if err := checkPath(path); err != nil {
		p.h.t.Fatalf("harness: %s: %v", p, err)
	}
	return filepath.Join(p.Store, "upper", filepath.FromSlash(path))
}

// ErrBadPath is returned for a path that is not clean and relative.
var ErrBadPath = errors.New("want a clean relative path like arena/dir/file")

func checkPath(path string) error {
	if !fs.ValidPath(path) {
		return fmt.Errorf("path %q: %w", path, ErrBadPath)
	}
	return nil
}

// Write writes data to path in the peer's merged view, making missing
// parent directories, as a user of the peer would.
func (p *Peer) Write(path string, data []byte) {
	p.h.t.Helper()
	full := p.Path(path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		p.h.t.Fatalf("harness: %s: write %s: %v", p, path, err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		p.h.t.Fatalf("harness: %s: write %s: %v", p, path, err)
	}
}

// Remove removes path (a file or an empty directory) from the merged view.
func (p *Peer) Remove(path string) {
	p.h.t.Helper()
	if err := os.Remove(p.Path(path)); err != nil {
		p.h.t.Fatalf("harness: %s: remove %s: %v", p, path, err)
	}
}

// Read returns the content of path in the merged view.
func (p *Peer) Read(path string) ([]byte, error) {
	full, err := p.resolve(path)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return b, nil
}

// Stat returns what the merged view says of path (following symlinks).
func (p *Peer) Stat(path string) (fs.FileInfo, error) {
	full, err := p.resolve(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return fi, nil
}

// ReadDir returns the sorted names in directory path of the merged view.
func (p *Peer) ReadDir(path string) ([]string, error) {
	full, err := p.resolve(path)
	if err != nil {
		return nil, err
	}
	es, err := os.ReadDir(full)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	names := make([]string, len(es))
	for i, e := range es {
		names[i] = e.Name()
	}
	sort.Strings(names)
	return names, nil
}

// WriteUpper writes data to STORE/upper/path directly, as a change made
// while the peer was down would be left. The peer must be stopped.
func (p *Peer) WriteUpper(path string, data []byte) {
	p.h.t.Helper()
	p.mustBeStopped("WriteUpper")
	full := p.UpperPath(path)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		p.h.t.Fatalf("harness: %s: WriteUpper %s: %v", p, path, err)
	}
	if err := os.WriteFile(full, data, 0o644); err != nil {
		p.h.t.Fatalf("harness: %s: WriteUpper %s: %v", p, path, err)
	}
}

// RemoveUpper removes STORE/upper/path directly. The peer must be stopped.
func (p *Peer) RemoveUpper(path string) {
	p.h.t.Helper()
	p.mustBeStopped("RemoveUpper")
	if err := os.Remove(p.UpperPath(path)); err != nil {
		p.h.t.Fatalf("harness: %s: RemoveUpper %s: %v", p, path, err)
	}
}

func (p *Peer) mustBeStopped(op string) {
	p.h.t.Helper()
	if p.Running() {
		p.h.t.Fatalf("harness: %s on %s: stop or kill the peer first, its upper is in use", op, p)
	}
}
