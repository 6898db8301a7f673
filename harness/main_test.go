package harness_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/harness"
)

// helperEnv makes the test binary act as a small helper program instead of
// running tests, so the infrastructure tests need no outside tools.
const helperEnv = "HARNESS_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		harness.Main(m)
	case "serve":
		os.Exit(serve(os.Args[len(os.Args)-1]))
	case "get":
		os.Exit(get(os.Args[len(os.Args)-1]))
	case "fakereal":
		os.Exit(fakeReal(argsAfterDashes()))
	case "tmpfs":
		os.Exit(tmpfs(os.Args[len(os.Args)-1]))
	default:
		fmt.Fprintf(os.Stderr, "unknown %s=%q\n", helperEnv, os.Getenv(helperEnv))
		os.Exit(2)
	}
}

// argsAfterDashes returns the arguments after the first "--".
func argsAfterDashes() []string {
	for i, a := range os.Args {
		if a == "--" {
			return os.Args[i+1:]
		}
	}
	return nil
}

// helper returns the env and args that run the test binary as helper mode
// with arg.
func helper(mode, arg string) ([]string, []string) {
	return []string{helperEnv + "=" + mode}, []string{os.Args[0], "-test.run=^$", arg}
}

// serve answers every request on addr with "hello from ADDR".
func serve(addr string) int {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("listening on", addr)
	err = http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s", addr)
	}))
	fmt.Fprintln(os.Stderr, err)
	return 1
}

// get prints the body at url; exit 1 if it cannot be had within 2 s.
func get(url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Print(string(b))
	return 0
}

// tmpfs mounts a tmpfs on dir, writes dir/inside and waits to be killed.
func tmpfs(dir string) int {
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		fmt.Fprintln(os.Stderr, "mount:", err)
		return 1
	}
	if err := os.WriteFile(filepath.Join(dir, "inside"), []byte("only in here"), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println("mounted")
	select {}
}
