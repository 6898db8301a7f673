package harness

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// Mount is one line of a mount table.
type Mount struct {
	Source, Point, FSType string
}

// Mounts parses a mount table in the format of /proc/mounts
// (/proc/mounts itself, or /proc/PID/mounts for another mount namespace).
func Mounts(file string) ([]Mount, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("mount table: %w", err)
	}
	defer f.Close()
	var out []Mount
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 {
			continue
		}
		out = append(out, Mount{Source: unescapeMount(fs[0]), Point: unescapeMount(fs[1]), FSType: fs[2]})
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mount table %s: %w", file, err)
	}
	return out, nil
}

// MountsUnder returns the mount points in the mount table file (e.g.
// /proc/mounts) that are dir or below it.
func MountsUnder(file, dir string) ([]string, error) {
	ms, err := Mounts(file)
	if err != nil {
		return nil, err
	}
	dir = filepath.Clean(dir)
	var out []string
	for _, m := range ms {
		if m.Point == dir || strings.HasPrefix(m.Point, dir+"/") {
			out = append(out, m.Point)
		}
	}
	return out, nil
}

// unescapeMount undoes the octal escapes (\040 for a space, ...) of the
// kernel's mount tables.
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
