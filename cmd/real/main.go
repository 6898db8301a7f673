// Command real runs a peer of a household that shares one merged tree of
// files without every machine holding every byte. See README.md.
//
// Exit codes (a contract for scripts):
//
//	0  success (verify: the store is clean)
//	1  the command failed; one sentence on stderr names what is at fault
//	   (verify: findings were listed)
//	2  usage error: unknown command or flag, missing argument
//	   (verify: the store could not be checked)
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes.
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// errUsage marks an error as a usage error (exit 2).
var errUsage = errors.New("usage")

type command struct {
	name    string
	args    string
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"init", "--store DIR --name NAME [--listen HOST:PORT] [--mount DIR]", "create a new store (real.toml, identity.key, upper/work/lower dirs)", cmdInit},
		{"key", "--store DIR", "print this peer's public key on one line", cmdKey},
		{"peer add", "--store DIR --name NAME [--address HOST:PORT] --key KEY", "pin another peer in real.toml", cmdPeerAdd},
		{"arena add", "--store DIR --name NAME [--policy own|watch]", "add an arena (a named top-level folder)", cmdArenaAdd},
		{"run", "--store DIR [--mount DIR] [--verbose]", "run the peer in the foreground until SIGINT/SIGTERM", cmdRun},
		{"verify", "--store DIR [--json]", "check overlay, index and cache state (exit 0 clean, 1 findings, 2 could not check)", cmdVerify},
		{"status", "--store DIR [--json]", "show this peer's history and its progress with every peer", cmdStatus},
		{"mark", "own|watch|inherit PATH…", "set or clear the keep-local mark on paths of the merged view", cmdMark},
		{"demo", "", "a household of two peers on loopback, for a first look (Ctrl-C stops)", cmdDemo},
		{"help", "[COMMAND]", "show help", nil},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return exitUsage
	}
	if args[0] == "help" || args[0] == "--help" || args[0] == "-h" {
		if len(args) > 1 {
			if c, _, ok := find(args[1:]); ok {
				fmt.Fprintf(stdout, "usage: real %s %s\n  %s\n", c.name, c.args, c.summary)
				return exitOK
			}
		}
		usage(stdout)
		return exitOK
	}
	c, rest, ok := find(args)
	if !ok {
		fmt.Fprintf(stderr, "real: unknown command %q (see real help)\n", strings.Join(args[:min(2, len(args))], " "))
		return exitUsage
	}
	err := c.run(rest, stdout, stderr)
	var ec exitCode
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ec):
		if ec.msg != "" {
			fmt.Fprintf(stderr, "real %s: %s\n", c.name, ec.msg)
		}
		return ec.code
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "real %s: %v\nusage: real %s %s\n", c.name, err, c.name, c.args)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "real %s: %v\n", c.name, err)
		return exitFail
	}
}

// exitCode is an error that carries its own exit code (verify's 1 and 2).
type exitCode struct {
	code int
	msg  string
}

func (e exitCode) Error() string { return fmt.Sprintf("exit %d: %s", e.code, e.msg) }

func find(args []string) (command, []string, bool) {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name && c.run != nil {
			return c, args[len(words):], true
		}
	}
	return command{}, nil, false
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "real: one merged tree of files across several machines.")
	fmt.Fprintln(w, "\nusage: real COMMAND [FLAGS]\n\ncommands:")
	cs := commands()
	for _, c := range cs {
		fmt.Fprintf(w, "  real %-10s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nexit codes: 0 success, 1 failure (verify: findings), 2 usage error (verify: could not check)")
}

// flags returns a FlagSet for command name that reports usage errors as errUsage.
func flags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("real "+name, flag.ContinueOnError)
	// Parse errors are reported once, by run, as one sentence; --help
	// prints the flags (see parse).
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// parse parses args and checks required string flags are set.
func parse(fs *flag.FlagSet, args []string, required map[string]*string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(os.Stdout)
			fmt.Printf("usage: %s [FLAGS]\n", fs.Name())
			fs.PrintDefaults()
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	names := make([]string, 0, len(required))
	for n := range required {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if *required[n] == "" {
			return fmt.Errorf("%w: --%s is required", errUsage, n)
		}
	}
	return nil
}

func noArgs(fs *flag.FlagSet) error {
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}
