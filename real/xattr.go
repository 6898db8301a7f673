package real

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/tree"
)

// facts are the overlay xattrs of one upper entry, from the
// trusted.overlay.* or (userxattr mounts) the user.overlay.* namespace.
type facts struct {
	metacopy bool
	whiteout bool
	opaque   bool
	redirect string // raw value; "" when absent
	hasRedir bool
}

// The namespaces overlay keeps its xattrs in: trusted.overlay.*, or
// user.overlay.* for a mount with userxattr (see Layers.UserXattr).
const (
	trustedOverlay = "trusted.overlay."
	userOverlay    = "user.overlay."
)

// overlayPrefix is the namespace of the overlay's own xattrs.
func overlayPrefix(userXattr bool) string {
	if userXattr {
		return userOverlay
	}
	return trustedOverlay
}

// readFacts reads the overlay xattrs of path (not following symlinks) in
// the namespace prefix (see overlayPrefix); others are not the overlay's.
func readFacts(path, prefix string) (facts, error) {
	var f facts
	names, err := listXattr(path)
	if err != nil {
		return f, err
	}
	for _, n := range names {
		key, ok := strings.CutPrefix(n, prefix)
		if !ok {
			continue
		}
		switch key {
		case "metacopy":
			f.metacopy = true
		case "whiteout":
			f.whiteout = true
		case "opaque":
			v, err := getXattr(path, n)
			if err != nil {
				return f, err
			}
			// "y": opaque; "x": a merged dir holding xattr whiteouts (not opaque).
			f.opaque = string(v) == "y"
		case "redirect":
			v, err := getXattr(path, n)
			if err != nil {
				return f, err
			}
			f.redirect, f.hasRedir = string(v), true
		}
	}
	return f, nil
}

func listXattr(path string) ([]string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Llistxattr(path, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Llistxattr(path, nil)
			if err != nil {
				return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
			}
			buf = make([]byte, sz+64)
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list xattrs of %s: %w", path, err)
		}
		var out []string
		for _, b := range bytes.Split(buf[:n], []byte{0}) {
			if len(b) > 0 {
				out = append(out, string(b))
			}
		}
		return out, nil
	}
}

func getXattr(path, name string) ([]byte, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Lgetxattr(path, name, buf)
		if errors.Is(err, unix.ERANGE) {
			sz, err := unix.Lgetxattr(path, name, nil)
			if err != nil {
				return nil, fmt.Errorf("xattr %s of %s: %w", name, path, err)
			}
			buf = make([]byte, sz+64)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("xattr %s of %s: %w", name, path, err)
		}
		return buf[:n], nil
	}
}

// errBadRedirect is wrapped by every redirect parsing error.
var errBadRedirect = errors.New("invalid overlay redirect")

// parseRedirect resolves an overlay.redirect value to the lower path it
// names, relative to the lower root ("arena/dir/name"). An absolute value
// ("/A/d") is taken from the lower root; a relative one is a name in
// parentLower, the lower directory of the entry's parent ("" when the
// parent has none: then a relative redirect names nothing).
func parseRedirect(value, parentLower string) (string, error) {
	if value == "" {
		return "", fmt.Errorf("%w: empty", errBadRedirect)
	}
	if strings.HasPrefix(value, "/") {
		p := strings.TrimLeft(value, "/")
		if err := tree.CheckPath(p); err != nil {
			return "", fmt.Errorf("%w %q: %w", errBadRedirect, value, err)
		}
		return p, nil
	}
	if strings.Contains(value, "/") {
		return "", fmt.Errorf("%w %q: relative redirect with '/'", errBadRedirect, value)
	}
	if err := tree.CheckPath(value); err != nil {
		return "", fmt.Errorf("%w %q: %w", errBadRedirect, value, err)
	}
	if parentLower == "" {
		return "", fmt.Errorf("%w %q: relative, and the parent has no lower directory", errBadRedirect, value)
	}
	return parentLower + "/" + value, nil
}
