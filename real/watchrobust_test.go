package real

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/privtest"
)

// setSysctl writes value to the sysctl file and returns a function (also
// run at cleanup) that restores the old value.
func setSysctl(t testing.TB, file, value string) func() {
	t.Helper()
	old, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(value), 0o644); err != nil {
		t.Fatalf("set %s: %v", file, err)
	}
	var once sync.Once
	restore := func() {
		once.Do(func() {
			if err := os.WriteFile(file, old, 0o644); err != nil {
				t.Errorf("restore %s: %v", file, err)
			}
		})
	}
	t.Cleanup(restore)
	return restore
}

// logBuffer collects log output (and passes it to t.Log).
type logBuffer struct {
	t  testing.TB
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	l.b.Write(p)
	l.mu.Unlock()
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (e *env) captureLog() *logBuffer {
	lb := &logBuffer{t: e.t}
	e.r.log = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	return lb
}

// serveHeldAtFirstPass serves with event queues small enough to overflow:
// a kernel queue of 16 events (read when the inotify instance is made,
// restored right after) and a user-space queue of 16. It writes A/first and
// holds the loop in its first pass until release is closed, so that what
// the test does meanwhile overflows one of them for real (the user-space
// one, mostly: its pump keeps draining the kernel's).
func (e *env) serveHeldAtFirstPass() (release chan struct{}) {
	e.t.Helper()
	restore := setSysctl(e.t, "/proc/sys/fs/inotify/max_queued_events", "16")
	e.r.eventBuf = 16
	e.r.hooks.watcherCreated = restore
	entered := make(chan struct{})
	release = make(chan struct{})
	var once sync.Once
	e.r.hooks.beforePass = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	serving := make(chan struct{})
	e.r.hooks.serving = func() { close(serving) }
	e.serve()
	<-serving
	write(e.t, filepath.Join(e.upper, "A", "first"), "first")
	select {
	case <-entered:
	case <-time.After(20 * time.Second):
		e.t.Fatal("the watcher never tried to record the first file")
	}
	return release
}

// overflowWith writes 300 files into upper dir A/dir while the loop is
// held (serveHeldAtFirstPass), releases it, and waits until they and
// A/first are recorded after the rescan the overflow must cause.
func (e *env) overflowWith(dir string, release chan struct{}) {
	e.t.Helper()
	ws := []want{link("A", "first", h("first"), blob.Hash{})}
	for i := 0; i < 300; i++ {
		p := fmt.Sprintf("%s/f%03d", dir, i)
		write(e.t, filepath.Join(e.upper, "A", p), p)
		ws = append(ws, link("A", p, h(p), blob.Hash{}))
	}
	close(release)
	e.eventuallyFinal(ws...)
	if n := e.r.rescans.Load(); n == 0 {
		e.t.Fatal("the event queue did not overflow (no rescan): the test did not test anything")
	}
}

func TestServeRescansAfterEventQueueOverflow(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	if err := os.MkdirAll(filepath.Join(e.upper, "A", "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	release := e.serveHeldAtFirstPass()
	e.overflowWith("d", release)
}

// userNSChild is set in the environment of a test binary re-run inside a
// new user namespace (runInUserNS); its value names the child test.
const userNSChild = "REAL_TEST_USERNS_CHILD"

// runInUserNS runs the test named child of this binary in a new user
// namespace where uid 0 is root, with dir in REAL_TEST_DIR. There the
// inotify limits are the namespace's own (lowering them does not touch the
// rest of the machine) and files owned by an unmapped uid are unreadable
// even to root.
func runInUserNS(t *testing.T, child, dir string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^"+child+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), userNSChild+"="+child, "REAL_TEST_DIR="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	t.Logf("child %s:\n%s", child, out)
	if err != nil {
		t.Fatalf("child %s in a user namespace: %v", child, err)
	}
	if !strings.Contains(string(out), "--- PASS: "+child) {
		t.Fatalf("child %s did not pass", child)
	}
}

// inChild skips the test unless it runs as the user-namespace child name.
func inChild(t *testing.T, name string) string {
	if os.Getenv(userNSChild) != name {
		t.Skip("runs only as a child of its parent test, in a user namespace")
	}
	return os.Getenv("REAL_TEST_DIR")
}

func TestServeWatchLimitFallsBackToPeriodicScans(t *testing.T) {
	privtest.Require(t)
	runInUserNS(t, "TestChildWatchLimit", t.TempDir())
}

func TestChildWatchLimit(t *testing.T) {
	inChild(t, "TestChildWatchLimit")
	// 3 watches: the upper, A, and one more of the ten dirs.
	if err := os.WriteFile("/proc/sys/user/max_inotify_watches", []byte("3"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, "A")
	for i := 0; i < 10; i++ {
		write(t, filepath.Join(e.upper, "A", fmt.Sprintf("d%d", i), "f"), "f")
	}
	e.catchUp()
	e.newEntries()
	lb := e.captureLog()
	e.r.scanEvery = 100 * time.Millisecond
	e.serve()
	// Files in dirs that are not watched are found by the periodic scans.
	var ws []want
	for i := 0; i < 10; i++ {
		p := fmt.Sprintf("d%d/new", i)
		write(t, filepath.Join(e.upper, "A", p), p)
		ws = append(ws, link("A", p, h(p), blob.Hash{}))
	}
	e.eventuallyFinal(ws...)
	if !e.r.WatchLimited() {
		t.Fatal("WatchLimited() = false")
	}
	if s := lb.String(); !strings.Contains(s, "fs.inotify.max_user_watches") || strings.Count(s, "watch limit reached") != 1 {
		t.Fatalf("want one error naming fs.inotify.max_user_watches, log:\n%s", s)
	}
	// Raised: everything is watched again at the next scan.
	if err := os.WriteFile("/proc/sys/user/max_inotify_watches", []byte("1000"), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.r.WatchLimited() {
		if time.Now().After(deadline) {
			t.Fatal("still limited after the limit was raised")
		}
		time.Sleep(20 * time.Millisecond)
	}
	write(t, filepath.Join(e.upper, "A", "d9", "later"), "later")
	e.eventuallyFinal(link("A", "d9/later", h("later"), blob.Hash{}))
}

func TestUnreadableDirIsReportedAndKept(t *testing.T) {
	privtest.Require(t)
	dir := t.TempDir()
	e := &env{t: t, dir: dir, upper: filepath.Join(dir, "upper"), lower: filepath.Join(dir, "lower"), dbFile: filepath.Join(dir, "real.db")}
	for _, d := range []string{e.upper, filepath.Join(e.lower, "A"), filepath.Join(dir, "work")} {
		must(t, os.MkdirAll(d, 0o755))
	}
	e.remote = newDirRemote(e.lower)
	e.open([]string{"A"})
	write(t, filepath.Join(e.upper, "A", "locked", "secret"), "secret")
	write(t, filepath.Join(e.upper, "A", "locked", "sub", "deep"), "deep")
	write(t, filepath.Join(e.upper, "A", "ok"), "ok")
	e.catchUp()
	e.expect(link("A", "locked/secret", h("secret"), blob.Hash{}), link("A", "locked/sub/deep", h("deep"), blob.Hash{}),
		link("A", "ok", h("ok"), blob.Hash{}))
	// Owned by a uid the child's namespace does not map: unreadable there.
	locked := filepath.Join(e.upper, "A", "locked")
	must(t, os.Chown(locked, 4242, 4242))
	must(t, os.Chmod(locked, 0o700))
	runInUserNS(t, "TestChildUnreadableDir", dir)
	// Back here (root), the index still has both files and nothing was recorded.
	e.open([]string{"A"})
	rows, err := e.ix.Rows(context.Background(), "A", "locked")
	if err != nil || len(rows) != 4 {
		t.Fatalf("rows under locked after the child: %d, %v", len(rows), err)
	}
	write(t, filepath.Join(locked, "sub", "while"), "while")
	e.catchUp()
	// The child's watcher may have seen "later" empty before its bytes.
	e.eventuallyFinal(link("A", "later", h("later"), blob.Hash{}), link("A", "locked/sub/while", h("while"), blob.Hash{}))
}

func TestChildUnreadableDir(t *testing.T) {
	dir := inChild(t, "TestChildUnreadableDir")
	e := &env{t: t, dir: dir, upper: filepath.Join(dir, "upper"), lower: filepath.Join(dir, "lower"), dbFile: filepath.Join(dir, "real.db")}
	e.remote = newDirRemote(e.lower)
	e.open([]string{"A"})
	e.seen, _ = e.ix.Last(context.Background())
	if _, err := os.ReadDir(filepath.Join(e.upper, "A", "locked")); err == nil {
		t.Fatal("locked is readable in the child: the test would test nothing")
	}
	lb := e.captureLog()
	// CatchUp: reported, nothing recorded under it.
	e.catchUp()
	e.expect()
	if !strings.Contains(lb.String(), "locked") {
		t.Fatalf("the unreadable dir is not reported:\n%s", lb.String())
	}
	// The watcher goes on around it.
	e.serve()
	write(t, filepath.Join(e.upper, "A", "later"), "later")
	e.eventuallyFinal(link("A", "later", h("later"), blob.Hash{}))
}

func TestServeFollowsRenamedDirTree(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	write(t, filepath.Join(e.upper, "A", "old", "sub", "f"), "f")
	e.serve()
	e.eventuallyFinal(link("A", "old/sub/f", h("f"), blob.Hash{}))
	must(t, os.Rename(filepath.Join(e.upper, "A", "old"), filepath.Join(e.upper, "A", "new")))
	e.eventuallyFinal(unlink("A", "old/sub/f", h("f")), link("A", "new/sub/f", h("f"), blob.Hash{}))
	// The watches of the moved tree report the new names.
	write(t, filepath.Join(e.upper, "A", "new", "sub", "g"), "g")
	e.eventuallyFinal(link("A", "new/sub/g", h("g"), blob.Hash{}))
	// A new dir made right after its parent (before any watch) is scanned.
	for i := 0; i < 20; i++ {
		write(t, filepath.Join(e.upper, "A", "new", fmt.Sprintf("n%d", i), "x", "y", "z"), "z")
	}
	var ws []want
	for i := 0; i < 20; i++ {
		ws = append(ws, link("A", fmt.Sprintf("new/n%d/x/y/z", i), h("z"), blob.Hash{}))
	}
	e.eventuallyFinal(ws...)
	write(t, filepath.Join(e.upper, "A", "new", "n7", "x", "y", "w"), "w")
	e.eventuallyFinal(link("A", "new/n7/x/y/w", h("w"), blob.Hash{}))
}

// A local tree moved into a remote dir that is copied up for the move: the
// copy-up's event comes first and its walk finds the tree under its new
// name while it is still watched under the old one. Files written in the
// moved tree afterwards must still be seen.
func TestServeWatchesTreeMovedIntoCopiedUpDir(t *testing.T) {
	e, m := overlayEnv(t)
	write(t, m("A/X/d/f"), "f")
	e.eventually(link("A", "X/d/f", h("f"), blob.Hash{}))
	must(t, os.Rename(m("A/X"), m("A/other/X")))
	e.eventually(link("A", "other/X/d/f", h("f"), blob.Hash{}), unlink("A", "X/d/f", h("f")))
	write(t, m("A/other/X/d/g"), "g")
	write(t, m("A/other/X/h"), "h")
	e.eventually(link("A", "other/X/d/g", h("g"), blob.Hash{}), link("A", "other/X/h", h("h"), blob.Hash{}))
	e.restartQuiet()
}

// Events lost to an overflow while a watched dir was moved away and a new
// dir made at its name: after the rescan both dirs are watched under their
// own names (the old watch named d but watched the moved dir).
func TestServeRescanWatchesMovedDirAndNewDirAtItsName(t *testing.T) {
	privtest.Require(t)
	e := newEnv(t, "A")
	must(t, os.MkdirAll(filepath.Join(e.upper, "A", "d"), 0o755))
	must(t, os.MkdirAll(filepath.Join(e.upper, "A", "many"), 0o755))
	release := e.serveHeldAtFirstPass()
	must(t, os.Rename(filepath.Join(e.upper, "A", "d"), filepath.Join(e.upper, "A", "e")))
	must(t, os.Mkdir(filepath.Join(e.upper, "A", "d"), 0o755))
	e.overflowWith("many", release)
	write(t, filepath.Join(e.upper, "A", "d", "x"), "x")
	write(t, filepath.Join(e.upper, "A", "e", "y"), "y")
	e.eventually(link("A", "d/x", h("x"), blob.Hash{}), link("A", "e/y", h("y"), blob.Hash{}))
}
