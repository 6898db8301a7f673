package index

import "strings"

// Key returns the sort key of a path inside an arena: the path with '/'
// replaced by NUL (which no path contains), so that byte order of keys is
// tree order (a directory, then everything under it, then its next
// sibling), the order of a depth-first walk with sorted names.
func Key(path string) []byte {
	return []byte(strings.ReplaceAll(path, "/", "\x00"))
}

// Less reports whether path a comes before path b in tree order.
func Less(a, b string) bool { return Compare(a, b) < 0 }

// Compare compares two paths in tree order, like Key(a) against Key(b).
func Compare(a, b string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		ca, cb := a[i], b[i]
		if ca == cb {
			continue
		}
		if ca == '/' {
			return -1
		}
		if cb == '/' {
			return 1
		}
		if ca < cb {
			return -1
		}
		return 1
	}
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	}
	return 0
}

// Within reports whether path is dir or under dir ("" is the whole arena).
func Within(path, dir string) bool {
	return dir == "" || path == dir || strings.HasPrefix(path, dir+"/")
}

// keyPath is the path of a key (the inverse of Key).
func keyPath(key []byte) string {
	var b strings.Builder
	b.Grow(len(key))
	for _, c := range key {
		if c == 0 {
			c = '/'
		}
		b.WriteByte(c)
	}
	return b.String()
}
