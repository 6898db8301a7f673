// Package index keeps the local side of a peer in SQLite (tables index_…):
// the decoded overlay upper (one Row per upper entry and per remote file
// that an upper directory moves or hides), this peer's own history of
// notifications, and how far each peer acknowledged that history.
//
// Package real decodes the upper and decides what changed; this package
// only stores rows and history, and commits a change set (rows and the
// history entries that describe it) in one transaction.
package index

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"log/slog"
	"sync"

	"github.com/realsync/real/sqlitedb"
)

//go:embed schema/*.sql
var schema embed.FS

// Index is the index and history of the local peer, stored in a shared database.
type Index struct {
	db  *sql.DB
	q   *sqlitedb.Stmts // the frequent read queries, prepared once
	log *slog.Logger

	mu      sync.Mutex
	changed chan struct{}
}

// Open applies the index schema to db and returns the index stored there.
func Open(ctx context.Context, db *sql.DB, log *slog.Logger) (*Index, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := sqlitedb.Migrate(ctx, db, "index", schema, "schema"); err != nil {
		return nil, fmt.Errorf("open index: %w", err)
	}
	return &Index{db: db, q: sqlitedb.NewStmts(db), log: log, changed: make(chan struct{})}, nil
}

// Changed returns a channel that is closed when history is appended after
// this call. Call it again for the next append.
func (ix *Index) Changed() <-chan struct{} {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	return ix.changed
}

func (ix *Index) notify() {
	ix.mu.Lock()
	defer ix.mu.Unlock()
	close(ix.changed)
	ix.changed = make(chan struct{})
}
