package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/pkg/xattr"
)

// MarkXattr holds a path's mark (DESIGN.md "Marks"); setting it on a remote
// file makes overlay copy up the metadata only.
const markXattr = "user.real.mark"

// cmdMark sets (own, watch) or clears (inherit) the mark on each path.
// Acting on the marks is stage 3; the marks are kept now.
func cmdMark(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 {
		switch args[0] {
		case "-h", "-help", "--help":
			fmt.Fprintln(stdout, "usage: real mark own|watch|inherit PATH…\n  set (own, watch) or clear (inherit) the keep-local mark on paths of the merged view")
			return flag.ErrHelp
		}
	}
	if len(args) < 2 {
		return fmt.Errorf("%w: need a mark (own, watch or inherit) and at least one path", errUsage)
	}
	mark, paths := args[0], args[1:]
	switch mark {
	case "own", "watch", "inherit":
	default:
		return fmt.Errorf("%w: mark %q is not own, watch or inherit", errUsage, mark)
	}
	for _, p := range paths {
		var err error
		if mark == "inherit" {
			err = xattr.Remove(p, markXattr)
			if errors.Is(err, xattr.ENOATTR) {
				err = nil
			}
		} else {
			err = xattr.Set(p, markXattr, []byte(mark))
		}
		if err != nil {
			return fmt.Errorf("mark %s: %w", p, err)
		}
	}
	return nil
}
