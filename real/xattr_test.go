package real

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
	"github.com/realsync/real/tree"
)

func TestParseRedirect(t *testing.T) {
	for _, c := range []struct{ value, parent, want string }{
		{"/A/d/g", "A/x", "A/d/g"},
		{"d", "A/x", "A/x/d"},
		{"d", "A", "A/d"},
	} {
		got, err := parseRedirect(c.value, c.parent)
		if err != nil || got != c.want {
			t.Errorf("parseRedirect(%q, %q) = %q, %v, want %q", c.value, c.parent, got, err, c.want)
		}
	}
	for _, c := range []struct{ value, parent string }{
		{"", "A"}, {"/", "A"}, {"/A/../etc", "A"}, {"a/b", "A"}, {"..", "A"}, {"d", ""}, {"/A//d", "A"}, {"a\x00b", "A"},
	} {
		if got, err := parseRedirect(c.value, c.parent); !errors.Is(err, errBadRedirect) {
			t.Errorf("parseRedirect(%q, %q) = %q, %v, want errBadRedirect", c.value, c.parent, got, err)
		}
	}
}

func FuzzParseRedirect(f *testing.F) {
	for _, v := range []string{"/A/d/g", "d", "", "/", "..", "/A/../x", "a/b", "//A", "/A/\x00"} {
		f.Add(v, "A/x")
	}
	f.Fuzz(func(t *testing.T, value, parent string) {
		if tree.CheckPath(parent) != nil {
			parent = ""
		}
		got, err := parseRedirect(value, parent)
		if err != nil {
			if !errors.Is(err, errBadRedirect) {
				t.Fatalf("error %v does not wrap errBadRedirect", err)
			}
			return
		}
		// Whatever is accepted is a clean lower path, never outside the tree.
		if err := tree.CheckPath(got); err != nil {
			t.Fatalf("parseRedirect(%q, %q) = %q: %v", value, parent, got, err)
		}
		if !strings.HasPrefix(value, "/") && !strings.HasPrefix(got, parent+"/") {
			t.Fatalf("relative redirect %q left parent %q: %q", value, parent, got)
		}
	})
}

// User-namespace overlay xattrs mean the same as trusted ones on a
// userxattr mount.
func TestCatchUpUserXattrs(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	e.r.l.UserXattr = true
	for _, p := range []string{"r", "d/one", "o/two"} {
		write(t, filepath.Join(e.lower, "A", p), "remote "+p)
	}
	set := func(p, name, v string) {
		t.Helper()
		if err := unix.Lsetxattr(filepath.Join(e.upper, "A", p), name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	// r renamed to r2 (metacopy + redirect), d renamed to d2, o recreated opaque.
	write(t, filepath.Join(e.upper, "A", "r2"), "")
	os.Truncate(filepath.Join(e.upper, "A", "r2"), int64(len("remote r")))
	set("r2", "user.overlay.metacopy", "")
	set("r2", "user.overlay.redirect", "r")
	write(t, filepath.Join(e.upper, "A", "r"), "")
	set("r", "user.overlay.whiteout", "")
	must(t, os.MkdirAll(filepath.Join(e.upper, "A", "d2"), 0o755))
	set("d2", "user.overlay.redirect", "/A/d")
	mkWhiteout(t, filepath.Join(e.upper, "A", "d"))
	must(t, os.MkdirAll(filepath.Join(e.upper, "A", "o"), 0o755))
	set("o", "user.overlay.opaque", "y")
	e.catchUp()
	e.expect(
		link("A", "r2", rh("r"), blob.Hash{}),
		unlink("A", "r", rh("r")),
		link("A", "d2/one", rh("d/one"), blob.Hash{}),
		unlink("A", "d/one", rh("d/one")),
		unlink("A", "o/two", rh("o/two")),
	)
	if e.r.hashed != 0 {
		t.Fatalf("hashed %d files, want 0", e.r.hashed)
	}
	e.catchUp()
	e.expect()
}

// On the daemon's overlay (trusted.overlay.*), user.overlay.* xattrs are a
// user's own data (a rootless container's storage kept in an arena): files
// carrying them are plain files, and they delete or move nothing remote.
func TestUserOverlayXattrsAreDataOnTrustedMount(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.lower, "A", "r"), "remote r")
	set := func(p, name, v string) {
		t.Helper()
		if err := unix.Lsetxattr(filepath.Join(e.upper, "A", p), name, []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	write(t, filepath.Join(e.upper, "A", "r2"), "mine")
	set("r2", "user.overlay.metacopy", "")
	set("r2", "user.overlay.redirect", "r")
	write(t, filepath.Join(e.upper, "A", "w"), "")
	set("w", "user.overlay.whiteout", "")
	must(t, os.MkdirAll(filepath.Join(e.upper, "A", "o"), 0o755))
	write(t, filepath.Join(e.upper, "A", "o", "f"), "f")
	set("o", "user.overlay.opaque", "y")
	e.catchUp()
	e.expect(
		link("A", "o/f", h("f"), blob.Hash{}),
		link("A", "r2", h("mine"), blob.Hash{}),
		link("A", "w", h(""), blob.Hash{}),
	)
}
