package real

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// MountOverlay mounts an overlay of upper (with work dir work) over lower
// at target, with metacopy=on and redirect_dir=on: metadata changes and
// renames of lower files are then kept in the upper as xattrs, not copies.
func MountOverlay(lower, upper, work, target string) error {
	for _, d := range []string{lower, upper, work, target} {
		if strings.ContainsAny(d, ",:") {
			return fmt.Errorf("mount overlay on %s: path %q contains ',' or ':', which overlay options cannot hold", target, d)
		}
		if fi, err := os.Stat(d); err != nil {
			return fmt.Errorf("mount overlay on %s: %w", target, err)
		} else if !fi.IsDir() {
			return fmt.Errorf("mount overlay on %s: %s is not a directory", target, d)
		}
	}
	opts := fmt.Sprintf("lowerdir=%s,upperdir=%s,workdir=%s,metacopy=on,redirect_dir=on", lower, upper, work)
	if err := unix.Mount("overlay", target, "overlay", 0, opts); err != nil {
		hint := ""
		switch {
		case errors.Is(err, unix.EPERM):
			hint = " (mounting overlay needs root, or CAP_SYS_ADMIN)"
		case errors.Is(err, unix.EINVAL):
			hint = " (upper and work must be on one filesystem, and the kernel must support metacopy and redirect_dir; see dmesg)"
		case errors.Is(err, unix.ENODEV):
			hint = " (no overlay filesystem in this kernel)"
		}
		return fmt.Errorf("mount overlay on %s (%s): %w%s", target, opts, err, hint)
	}
	return nil
}

// Unmount unmounts target (the overlay or any other mount).
func Unmount(target string) error {
	if err := unix.Unmount(target, 0); err != nil {
		return fmt.Errorf("unmount %s: %w", target, err)
	}
	return nil
}

// Mounted reports whether target is a mount point, from /proc/self/mountinfo.
func Mounted(target string) (bool, error) {
	abs, err := filepath.Abs(target)
	if err != nil {
		return false, fmt.Errorf("mounted %s: %w", target, err)
	}
	if r, err := filepath.EvalSymlinks(abs); err == nil {
		abs = r
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return false, fmt.Errorf("mounted %s: %w", target, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) > 4 && unescapeMountinfo(fields[4]) == abs {
			return true, nil
		}
	}
	if err := sc.Err(); err != nil {
		return false, fmt.Errorf("mounted %s: %w", target, err)
	}
	return false, nil
}

// unescapeMountinfo undoes the octal escapes (\040 for space …) of mountinfo.
func unescapeMountinfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && isOct(s[i+1]) && isOct(s[i+2]) && isOct(s[i+3]) {
			b.WriteByte((s[i+1]-'0')<<6 | (s[i+2]-'0')<<3 | (s[i+3] - '0'))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isOct(c byte) bool { return c >= '0' && c <= '7' }
