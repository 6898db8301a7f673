package unreal

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A file opened before a remote change, read on after it through the same
// descriptor (what a program holding a file open does while a peer
// changes it): the rest of the read is the opened version's, whole — not
// cut to the new size when the new version is shorter, nor padded to it
// when it is longer — on the Unreal and in the merged view; an open after
// the change reads the new version.
//
// Without FOPEN_DIRECT_IO the rest was the old bytes cut to the new size.
// fstat of that descriptor shows the new size (logged below; it cannot
// be otherwise: see fileNode.Getattr).
func TestOpenFileReadsItsVersionAfterChange(t *testing.T) {
	long, short := strings.Repeat("o", 70000), strings.Repeat("n", 10)
	for _, tc := range []struct{ name, old, new string }{
		{"old longer", long, short},
		{"old shorter", short, long},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCache(t)
			f := newFetcher(tc.old, tc.new)
			for i, rel := range []string{"remote/v.txt", "v.txt"} {
				mustApply(t, c, "alice", link(uint64(i+1), "docs", rel, tc.old, t0))
			}
			dir := mountUnreal(t, c, f)
			o := mountOverlay(t, dir)
			writeFile(t, filepath.Join(o.merged, "docs", "local.txt"), "local") // docs: a merged dir
			views := map[string]string{
				"unreal":                      filepath.Join(dir, "docs", "remote", "v.txt"),
				"merged view, lower-only dir": filepath.Join(o.merged, "docs", "remote", "v.txt"),
				"merged view, merged dir":     filepath.Join(o.merged, "docs", "v.txt"),
			}
			fds := map[string]*os.File{}
			for name, p := range views {
				fd, err := os.Open(p)
				if err != nil {
					t.Fatal(err)
				}
				defer fd.Close()
				head := make([]byte, 5)
				if _, err := io.ReadFull(fd, head); err != nil || string(head) != tc.old[:5] {
					t.Fatalf("%s: first read %q, %v", name, head, err)
				}
				fds[name] = fd
			}
			for i, rel := range []string{"remote/v.txt", "v.txt"} {
				mustApply(t, c, "alice", link(uint64(i+3), "docs", rel, tc.new, t0.Add(1e9)))
			}
			for name, fd := range fds {
				st, err := fd.Stat()
				if err != nil {
					t.Fatalf("%s: fstat after the change: %v", name, err)
				}
				t.Logf("%s: fstat of the descriptor opened before the change: size %d (opened %d, new %d)", name, st.Size(), len(tc.old), len(tc.new))
				rest, err := io.ReadAll(fd)
				if err != nil || !bytes.Equal(rest, []byte(tc.old[5:])) {
					t.Fatalf("%s: rest of the read after the change: %d bytes starting %q, %v; want the %d bytes left of the opened version",
						name, len(rest), rest[:min(len(rest), 4)], err, len(tc.old)-5)
				}
				if got, err := os.ReadFile(views[name]); err != nil || string(got) != tc.new {
					t.Fatalf("%s: a new open after the change: %d bytes, %v; want the new version", name, len(got), err)
				}
			}
		})
	}
}
