// Package verify checks a store's state: configuration, identity key, the
// SQLite database, the overlay upper and the index rows against it. It works
// with the daemon stopped and while it runs (it only reads).
//
// Each kind of finding has a stable code (a contract for scripts reading
// `real verify --json`).
package verify

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/config"
	"github.com/realsync/real/index"
	"github.com/realsync/real/sqlitedb"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// Finding codes.
const (
	CodeKeyMode     = "key-mode"      // identity.key is readable by others
	CodeDBIntegrity = "db-integrity"  // SQLite integrity_check failed
	CodeUpperAbsent = "upper-missing" // STORE/upper is missing
	CodeWorkAbsent  = "work-missing"  // STORE/work is missing
	CodeIndexStale  = "index-stale"   // an index row names a local file the upper no longer has
	CodeIndexDiffer = "index-differ"  // an index row's size or mtime disagrees with the upper file
	CodeUnindexed   = "unindexed"     // a local file in the upper has no index row
	CodeHistoryGap  = "history-gap"   // the history's indexes are not contiguous
	CodeBadRow      = "bad-row"       // a database row could not be decoded

	CodeRedirectMissing = "redirect-missing" // an overlay.redirect names a lower path that does not exist
	CodeMetacopyMissing = "metacopy-missing" // a metacopy file whose lower data is missing
	CodeMetacopyChanged = "metacopy-changed" // a metacopy file whose lower data changed under it (size or blob)
	CodeWhiteoutOrphan  = "whiteout-orphan"  // a whiteout over nothing in the lower that the index does not record
	CodeUndecodable     = "undecodable"      // an upper entry the decoder does not understand (symlink, device, bad xattr)
	CodeUnreadable      = "unreadable"       // an upper entry that could not be read
)

// Finding is one problem found, with the path it concerns.
type Finding struct {
	Code   string `json:"code"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

// ErrCannotCheck wraps every reason the store could not be checked at all.
var ErrCannotCheck = errors.New("cannot check the store")

// Store checks the store in dir. It works with the daemon stopped and while
// it runs: a running daemon (its control socket answers) may be recording a
// change at the instant of the check, so when the first pass finds anything
// it checks again, after the watcher has had time to settle, and reports
// only the findings every pass made (recheckAfter, at most recheckPasses).
func Store(ctx context.Context, dir string) ([]Finding, error) {
	return checkHooked(ctx, dir, recheckAfter, nil)
}

// How verify waits out changes a running daemon is recording: the watcher
// settles a path within 200 ms of its first event, then hashes it.
const (
	recheckAfter  = time.Second
	recheckPasses = 3
)

// checkHooked is Store with the settle time given; afterFirst (tests) runs
// after the first pass when a recheck follows.
func checkHooked(ctx context.Context, dir string, settle time.Duration, afterFirst func()) ([]Finding, error) {
	found, err := once(ctx, dir)
	if err != nil || len(found) == 0 || !running(dir) {
		return found, err
	}
	if afterFirst != nil {
		afterFirst()
	}
	for pass := 1; pass < recheckPasses && len(found) > 0; pass++ {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrCannotCheck, ctx.Err())
		case <-time.After(settle):
		}
		again, err := once(ctx, dir)
		if err != nil {
			return nil, err
		}
		found = persisting(found, again)
	}
	return found, nil
}

// persisting returns the findings of before that after made again (same
// code and path), with after's detail.
func persisting(before, after []Finding) []Finding {
	seen := make(map[[2]string]bool, len(before))
	for _, f := range before {
		seen[[2]string{f.Code, f.Path}] = true
	}
	var out []Finding
	for _, f := range after {
		if seen[[2]string{f.Code, f.Path}] {
			out = append(out, f)
		}
	}
	return out
}

// running reports whether a daemon serves the store's control socket.
func running(dir string) bool {
	c, err := net.DialTimeout("unix", filepath.Join(dir, controlSocket), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// controlSocket is the daemon's control socket in a store (rpc.ControlName;
// verify does not depend on the RPC layer for a file name).
const controlSocket = "control.sock"

// once is one pass of every check.
func once(ctx context.Context, dir string) ([]Finding, error) {
	cfg, err := config.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
	}
	var found []Finding
	add := func(code, path, detail string) { found = append(found, Finding{code, path, detail}) }

	key := filepath.Join(dir, "identity.key")
	if fi, err := os.Stat(key); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
	} else if fi.Mode().Perm()&0o077 != 0 {
		add(CodeKeyMode, key, fmt.Sprintf("mode %o, want 0600", fi.Mode().Perm()))
	}
	for _, d := range []struct{ name, code string }{{"upper", CodeUpperAbsent}, {"work", CodeWorkAbsent}} {
		p := filepath.Join(dir, d.name)
		if fi, err := os.Stat(p); err != nil || !fi.IsDir() {
			add(d.code, p, "not a directory")
		}
	}
	dbFile := filepath.Join(dir, "real.db")
	if _, err := os.Stat(dbFile); err == nil {
		db, err := openDB(dbFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
		}
		defer db.Close()
		if err := integrity(ctx, db); err != nil {
			add(CodeDBIntegrity, dbFile, err.Error())
			return found, nil
		}
		ix, err := index.Open(ctx, db, slog.New(slog.DiscardHandler))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotCheck, schemaOlder(dbFile, running(dir), err))
		}
		if err := checkIndex(ctx, ix, filepath.Join(dir, "upper"), cfg.ArenaNames(), add); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
		}
		if err := checkUpper(ctx, db, ix, filepath.Join(dir, "upper"), cfg.ArenaNames(), add); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
		}
	}
	return found, nil
}

// openDB opens real.db for the checks, read-only, with the daemon stopped
// and while it runs (SQLite's WAL lets a reader beside the daemon): nothing
// verify runs can change the store (index.Open applies pending schema
// migrations, which need writes). A real.db whose schema is older than this
// binary's is then not checked at all ("could not check", exit 2, saying
// so: see schemaOlder) rather than checked in part: the checks read the
// index through this binary's queries, which rely on the newer schema, and
// a user who runs verify to see whether a store is sound expects it to
// leave the store as it found it. With the daemon stopped the next
// `real run` upgrades it; while a daemon runs, that daemon is an older
// binary than this one, and migrating its database under it (as verify did
// before) could break it.
func openDB(file string) (*sql.DB, error) {
	return sqlitedb.OpenReadOnly(file)
}

// schemaOlder turns the refused write of a pending migration on the
// read-only database into what it means for the user.
func schemaOlder(file string, daemonRuns bool, err error) error {
	var se *sqlite.Error
	if !errors.As(err, &se) || se.Code()&0xff != sqlite3.SQLITE_READONLY {
		return err
	}
	if daemonRuns {
		return fmt.Errorf("%s has an older schema than this binary (a migration is pending): the running real is an older version; verify only reads the store: restart real run with this binary to upgrade it, then verify again (%w)", file, err)
	}
	return fmt.Errorf("%s has an older schema than this binary (a migration is pending): verify only reads the store; start `real run` once to upgrade it, then verify again (%w)", file, err)
}

// checkIndex compares the index rows of local files with the upper, and
// the upper's regular files with the index, arena by arena.
func checkIndex(ctx context.Context, ix *index.Index, upper string, arenas []string, add func(code, path, detail string)) error {
	bad, err := ix.CheckPacked(ctx)
	if err != nil {
		return err
	}
	badIn := map[string]bool{}
	for _, d := range bad {
		add(CodeBadRow, d.Arena+"/"+d.Path, "index row disagrees with its packed copy: "+d.Detail)
		badIn[d.Arena] = true
	}
	for _, a := range arenas {
		rows := map[string]index.Row{}
		complete := true
		for r, err := range ix.All(ctx, a, "") {
			if err != nil {
				if !badIn[a] { // else named above, row by row
					add(CodeBadRow, a, err.Error()+" (the rows after it are not checked)")
				}
				complete = false
				break
			}
			rows[r.Path] = r
			if r.Kind != index.File {
				continue
			}
			p := filepath.Join(upper, a, r.Path)
			fi, err := os.Lstat(p)
			switch {
			case err != nil:
				add(CodeIndexStale, p, "indexed as a local file, not in the upper")
			case !fi.Mode().IsRegular():
				add(CodeIndexStale, p, "indexed as a local file, now "+fi.Mode().Type().String())
			case fi.Size() != r.Size || !fi.ModTime().Equal(r.Mtime):
				add(CodeIndexDiffer, p, fmt.Sprintf("index says %d bytes at %s, upper has %d bytes at %s",
					r.Size, r.Mtime.UTC().Format(time.RFC3339Nano), fi.Size(), fi.ModTime().UTC().Format(time.RFC3339Nano)))
			default:
				if h, n, err := blob.File(p); err == nil && n == r.Size && h != r.Blob {
					add(CodeIndexDiffer, p, fmt.Sprintf("index says blob %s, the upper file hashes to %s (same size and mtime)", r.Blob, h))
				}
			}
		}
		if !complete {
			continue // what the index could not list is not "unindexed"
		}
		root := filepath.Join(upper, a)
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || !d.Type().IsRegular() {
				return nil
			}
			rel, _ := filepath.Rel(root, p)
			if _, ok := rows[filepath.ToSlash(rel)]; !ok {
				add(CodeUnindexed, p, "a file in the upper the index does not know")
			}
			return nil
		})
	}
	lo, hi, n, err := ix.Span(ctx)
	if err != nil {
		return err
	}
	if n > 0 && hi-lo+1 != uint64(n) {
		add(CodeHistoryGap, "real.db", fmt.Sprintf("%d entries between %d and %d", n, lo, hi))
	}
	return nil
}

func integrity(ctx context.Context, db *sql.DB) error {
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return err
	}
	defer rows.Close()
	var msgs []string
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			return err
		}
		if m != "ok" {
			msgs = append(msgs, m)
		}
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if len(msgs) > 0 {
		return fmt.Errorf("%d problems, first: %s", len(msgs), msgs[0])
	}
	return nil
}
