package main

import (
	"fmt"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary doubles as the real binary: with REAL_CLI_MAIN set it runs
// the CLI on its arguments, so lifecycle tests can start, kill and restart
// `real run` as a separate process, as a user would.
func TestMain(m *testing.M) {
	if os.Getenv("REAL_CLI_MAIN") != "" {
		if os.Getenv("REAL_CLI_HIDE_DEV") != "" {
			// Started in a private mount namespace: cover /dev with an
			// empty tmpfs so that /dev/fuse really is missing.
			if err := unix.Mount("none", "/dev", "tmpfs", 0, ""); err != nil {
				fmt.Fprintln(os.Stderr, "hide /dev:", err)
				os.Exit(99)
			}
		}
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}
