// Package tree holds the naming rules of the merged tree: arena names and
// the clean, relative, '/'-separated paths inside an arena. Every path that
// crosses the network or comes from a configuration file is checked here.
package tree

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"
)

// MaxName is the longest path element Linux accepts (NAME_MAX).
const MaxName = 255

// MaxPath is the longest path (arena plus path) we accept (PATH_MAX less room for the mount).
const MaxPath = 4000

// ErrBadPath is wrapped by every path validation error.
var ErrBadPath = errors.New("invalid path")

// ErrBadArena is wrapped by every arena name validation error.
var ErrBadArena = errors.New("invalid arena name")

// CheckPath reports whether p is a clean relative path inside an arena:
// non-empty, '/'-separated, no "." or ".." element, no empty element, no NUL,
// valid UTF-8, no element longer than MaxName.
func CheckPath(p string) error {
	if err := checkElems(p); err != nil {
		return fmt.Errorf("%w %q: %s", ErrBadPath, p, err)
	}
	return nil
}

// CheckArena reports whether name is a valid arena name. Arena names follow
// the path rules; they may contain '/' and then span several directories.
func CheckArena(name string) error {
	if err := checkElems(name); err != nil {
		return fmt.Errorf("%w %q: %s", ErrBadArena, name, err)
	}
	if strings.HasPrefix(name, ".") {
		return fmt.Errorf("%w %q: must not start with '.'", ErrBadArena, name)
	}
	return nil
}

func checkElems(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case len(p) > MaxPath:
		return fmt.Errorf("longer than %d bytes", MaxPath)
	case !utf8.ValidString(p):
		return errors.New("not UTF-8")
	case strings.IndexByte(p, 0) >= 0:
		return errors.New("contains NUL")
	case p[0] == '/':
		return errors.New("absolute")
	}
	// Element by element without splitting (no allocation: the decoder
	// checks every name of the upper this way).
	for rest, more := p, true; more; {
		var e string
		e, rest, more = strings.Cut(rest, "/")
		switch {
		case e == "":
			return errors.New("empty element")
		case e == "." || e == "..":
			return fmt.Errorf("element %q", e)
		case len(e) > MaxName:
			return fmt.Errorf("element longer than %d bytes", MaxName)
		}
	}
	return nil
}

// CheckArenas validates every name and the rule that no arena name plus '/'
// prefixes another (and no name is repeated).
func CheckArenas(names []string) error {
	s := append([]string(nil), names...)
	sort.Strings(s)
	for i, n := range s {
		if err := CheckArena(n); err != nil {
			return err
		}
		if i > 0 && s[i-1] == n {
			return fmt.Errorf("%w %q: listed twice", ErrBadArena, n)
		}
	}
	for _, a := range s {
		for _, b := range s {
			if a != b && strings.HasPrefix(b, a+"/") {
				return fmt.Errorf("%w: arena %q is a prefix of arena %q", ErrBadArena, a, b)
			}
		}
	}
	return nil
}

// Split returns the arena among arenas that contains full (a '/'-separated
// path relative to the tree root) and the path inside it. ok is false when
// full is not inside any arena (or is an arena root itself: then rel is "").
func Split(arenas []string, full string) (arena, rel string, ok bool) {
	for _, a := range arenas {
		if full == a {
			return a, "", true
		}
		if strings.HasPrefix(full, a+"/") {
			return a, full[len(a)+1:], true
		}
	}
	return "", "", false
}

// Join joins an arena and a path inside it.
func Join(arena, rel string) string {
	if rel == "" {
		return arena
	}
	return arena + "/" + rel
}
