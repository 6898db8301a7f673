package harness

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BinEnv names an environment variable that, when set, is the path of a
// prebuilt `real` binary to use instead of building ./cmd/real.
const BinEnv = "REAL_BIN"

var build struct {
	once sync.Once
	dir  string // temp dir holding the built binary, removed by Main
	path string
	err  error
}

// Binary returns the path of the `real` binary under test, building it once
// per test process with `go build` from the module root (found with
// `go env GOMOD`). When the test binary was built with -race, so is `real`.
// It fails t if the build fails.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() { build.path, build.err = buildBinary() })
	if build.err != nil {
		t.Fatalf("harness: %v", build.err)
	}
	return build.path
}

func buildBinary() (string, error) {
	if p := os.Getenv(BinEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", BinEnv, p, err)
		}
		return p, nil
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", fmt.Errorf("go env GOMOD: not inside a module (got %q)", gomod)
	}
	dir, err := os.MkdirTemp("", "real-harness-bin-")
	if err != nil {
		return "", fmt.Errorf("temp dir for the real binary: %w", err)
	}
	build.dir = dir
	bin := filepath.Join(dir, "real")
	args := []string{"build", "-o", bin}
	if raceEnabled {
		args = append(args, "-race")
	}
	args = append(args, "./cmd/real")
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Dir(gomod)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go %s in %s: %w\n%s", strings.Join(args, " "), cmd.Dir, err, buf.String())
	}
	return bin, nil
}

// Main runs the tests and then removes the binary built by Binary. Call it
// from TestMain: func TestMain(m *testing.M) { harness.Main(m) }.
func Main(m *testing.M) {
	code := m.Run()
	if build.dir != "" {
		os.RemoveAll(build.dir)
	}
	os.Exit(code)
}
