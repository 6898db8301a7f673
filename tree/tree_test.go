package tree

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckPath(t *testing.T) {
	good := []string{"a", "a/b", "with space/ünïcode", "new\nline", strings.Repeat("x", 255), ".hidden/f"}
	for _, p := range good {
		if err := CheckPath(p); err != nil {
			t.Errorf("CheckPath(%q) = %v, want nil", p, err)
		}
	}
	bad := []string{"", "/abs", "a//b", "a/", "./a", "a/./b", "..", "a/../b", "a\x00b", "\xff", strings.Repeat("x", 256), strings.Repeat("a/", 2001) + "a"}
	for _, p := range bad {
		err := CheckPath(p)
		if !errors.Is(err, ErrBadPath) {
			t.Errorf("CheckPath(%q) = %v, want ErrBadPath", p, err)
		}
	}
}

func TestCheckArenas(t *testing.T) {
	if err := CheckArenas([]string{"photos", "media/music", "media/films", "photosynth"}); err != nil {
		t.Fatalf("valid arenas refused: %v", err)
	}
	for _, set := range [][]string{
		{"media", "media/music"},
		{"a", "a"},
		{"../x"},
		{".real"},
	} {
		if err := CheckArenas(set); !errors.Is(err, ErrBadArena) {
			t.Errorf("CheckArenas(%q) = %v, want ErrBadArena", set, err)
		}
	}
}

func TestSplit(t *testing.T) {
	arenas := []string{"media/music", "docs"}
	for _, c := range []struct{ full, arena, rel string }{
		{"media/music/a/b.mp3", "media/music", "a/b.mp3"},
		{"docs", "docs", ""},
		{"docs/x", "docs", "x"},
	} {
		a, r, ok := Split(arenas, c.full)
		if !ok || a != c.arena || r != c.rel {
			t.Errorf("Split(%q) = %q %q %v", c.full, a, r, ok)
		}
	}
	for _, full := range []string{"media", "media/musicx/a", "docsy", "other/x"} {
		if _, _, ok := Split(arenas, full); ok {
			t.Errorf("Split(%q) found an arena", full)
		}
	}
}

func FuzzCheckPath(f *testing.F) {
	for _, s := range []string{"a/b", "../x", "a//b", "", "a\x00", "ü/ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		if CheckPath(p) != nil {
			return
		}
		// An accepted path never escapes its arena and is clean.
		for _, e := range strings.Split(p, "/") {
			if e == "" || e == "." || e == ".." || strings.ContainsRune(e, 0) {
				t.Fatalf("accepted unclean path %q", p)
			}
		}
		if strings.HasPrefix(p, "/") {
			t.Fatalf("accepted absolute path %q", p)
		}
		if Join("arena", p) != "arena/"+p {
			t.Fatalf("Join broke %q", p)
		}
	})
}
