package posixtest

import (
	"os"
	"path/filepath"
	"testing"
)

// The suite passes on a plain directory (the reference behaviour).
func TestPlainDirectory(t *testing.T) {
	root := t.TempDir()
	want := SpecialNames()
	for p, c := range LargeDir("big", 3000) {
		want[p] = c
	}
	for p, c := range want {
		f := filepath.Join(root, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	Run(t, root, want)
}

// The suite notices what it is for: a missing name, a wrong content.
func TestNoticesDifferences(t *testing.T) {
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "a"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]Tree{
		"missing file":  {"a": "x", "b": "y"},
		"wrong content": {"a": "z"},
		"extra name":    {},
	} {
		t.Run(name, func(t *testing.T) {
			if !fails(func(t *testing.T) { Content(t, root, want) }) {
				t.Errorf("Content passed on a tree that differs (%s)", name)
			}
		})
	}
}

// fails reports whether f fails when run as a test of its own.
func fails(f func(t *testing.T)) bool {
	res := testing.RunTests(func(pat, str string) (bool, error) { return true, nil },
		[]testing.InternalTest{{Name: "inner", F: f}})
	return !res
}
