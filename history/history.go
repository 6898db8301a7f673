// Package history holds the notifications peers exchange: what changed at a
// path of an arena, in the order the source peer recorded it. These are the
// domain types; rpc/ converts them to and from the wire.
package history

import (
	"fmt"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/tree"
)

// Kind is the kind of a notification.
type Kind int

// The kinds of notification (DESIGN.md "Notifications"). Link and Unlink
// replicate; Available and Drop only inform. The Unreal does not tell them apart.
const (
	Link      Kind = 1 // path now has this content (new or replaced)
	Available Kind = 2 // a remote file was downloaded and is now kept here
	Unlink    Kind = 3 // path has no content any more
	Drop      Kind = 4 // local copy removed; still available from other peers
)

func (k Kind) String() string {
	switch k {
	case Link:
		return "link"
	case Available:
		return "available"
	case Unlink:
		return "unlink"
	case Drop:
		return "drop"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// HasContent reports whether the kind announces content (Link, Available).
func (k Kind) HasContent() bool { return k == Link || k == Available }

// Entry is one notification from the history of a source peer.
type Entry struct {
	Index    uint64 // strictly increasing per source peer; 0 before it is recorded
	Kind     Kind
	Arena    string
	Path     string
	Mtime    time.Time
	Size     int64     // content size (Link, Available)
	Blob     blob.Hash // content (Link, Available)
	PrevBlob blob.Hash // content this replaces or removes; zero when none
}

// MaxFuture is how far in the future an mtime may lie before it is refused.
const MaxFuture = 24 * time.Hour

// Announced is the mtime to announce for a local change made at mtime and
// recorded at now: mtime itself, unless it lies more than MaxFuture ahead
// (a file touched to 2099, a clock that was wrong), then now. Peers refuse
// such an mtime (see Check), and one refused entry would hold up every
// later one to them; it would also win newest-wins against every real
// edit for years. The index keeps the file's true mtime.
func Announced(mtime, now time.Time) time.Time {
	if mtime.After(now.Add(MaxFuture)) {
		return now
	}
	return mtime
}

// Check validates an entry received from outside: kind, arena and path
// names, size, blob presence, and mtime sanity. now is the receiver's clock.
func (e *Entry) Check(now time.Time) error {
	switch e.Kind {
	case Link, Available:
		if e.Blob.IsZero() {
			return fmt.Errorf("%s %q: no blob", e.Kind, e.Path)
		}
		if e.Size < 0 {
			return fmt.Errorf("%s %q: negative size %d", e.Kind, e.Path, e.Size)
		}
	case Unlink, Drop:
		if !e.Blob.IsZero() || e.Size != 0 {
			return fmt.Errorf("%s %q: carries content", e.Kind, e.Path)
		}
	default:
		return fmt.Errorf("unknown notification kind %d", int(e.Kind))
	}
	if err := tree.CheckArena(e.Arena); err != nil {
		return err
	}
	if err := tree.CheckPath(e.Path); err != nil {
		return err
	}
	if e.Mtime.After(now.Add(MaxFuture)) {
		return fmt.Errorf("%s %q: mtime %s is in the future", e.Kind, e.Path, e.Mtime.UTC().Format(time.RFC3339))
	}
	return nil
}
