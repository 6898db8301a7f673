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
	"os"
	"path/filepath"

	"github.com/realsync/real/config"
	"github.com/realsync/real/sqlitedb"
)

// Finding codes.
const (
	CodeKeyMode     = "key-mode"      // identity.key is readable by others
	CodeDBIntegrity = "db-integrity"  // SQLite integrity_check failed
	CodeUpperAbsent = "upper-missing" // STORE/upper is missing
	CodeWorkAbsent  = "work-missing"  // STORE/work is missing
)

// Finding is one problem found, with the path it concerns.
type Finding struct {
	Code   string `json:"code"`
	Path   string `json:"path"`
	Detail string `json:"detail"`
}

// ErrCannotCheck wraps every reason the store could not be checked at all.
var ErrCannotCheck = errors.New("cannot check the store")

// Store checks the store in dir.
func Store(ctx context.Context, dir string) ([]Finding, error) {
	if _, err := config.Load(dir); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
	}
	var fs []Finding
	add := func(code, path, detail string) { fs = append(fs, Finding{code, path, detail}) }

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
		db, err := sqlitedb.Open(dbFile)
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCannotCheck, err)
		}
		defer db.Close()
		if err := integrity(ctx, db); err != nil {
			add(CodeDBIntegrity, dbFile, err.Error())
		}
	}
	return fs, nil
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
