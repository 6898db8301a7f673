package real

import (
	"fmt"
	"time"

	"github.com/realsync/real/blob"
	"github.com/realsync/real/history"
	"github.com/realsync/real/index"
)

// content is what a path shows: a blob, or nothing.
type content struct {
	ok    bool
	blob  blob.Hash
	size  int64
	mtime time.Time
}

// claim is what a row says about its path: has is false when the row says
// nothing (the remote file at the path, if any, shows through).
func claim(r *index.Row) (c content, has bool) {
	if r == nil {
		return content{}, false
	}
	switch r.Kind {
	case index.File, index.Meta, index.Moved:
		if r.Blob.IsZero() {
			return content{}, false
		}
		return content{ok: true, blob: r.Blob, size: r.Size, mtime: r.Mtime}, true
	case index.Whiteout, index.Hidden, index.Dir:
		// Deleted, when there was a remote file to delete.
		return content{}, !r.Blob.IsZero()
	}
	return content{}, false
}

func sameRow(a, b *index.Row) bool {
	if a == b {
		return true
	}
	if a == nil || b == nil {
		return false
	}
	return a.Kind == b.Kind && a.Size == b.Size && a.Mtime.Equal(b.Mtime) && a.Ctime.Equal(b.Ctime) &&
		a.Inode == b.Inode && a.Blob == b.Blob && a.Origin == b.Origin && a.Opaque == b.Opaque
}

// change records that the row at a path went from old to new (either nil):
// the row update, and the history entry when what the path shows changed.
func (s *syncer) change(old, new *index.Row) error {
	if sameRow(old, new) {
		return nil
	}
	row := new
	if row == nil {
		row = old
		s.cs.Delete = append(s.cs.Delete, *old)
	} else {
		s.cs.Put = append(s.cs.Put, *new)
	}
	oc, ohas := claim(old)
	nc, nhas := claim(new)
	if ohas || nhas {
		// What the path showed and shows: a row's claim, or else the remote file.
		var err error
		if !ohas {
			if oc, err = s.remoteContent(row.Path); err != nil {
				return err
			}
		}
		if !nhas {
			if nc, err = s.remoteContent(row.Path); err != nil {
				return err
			}
		}
		if e, ok := entry(s.arena, row.Path, oc, nc, new, holds(old, ohas), holds(new, nhas)); ok {
			s.cs.Entries = append(s.cs.Entries, e)
		}
	}
	s.n++
	if s.n >= flushAt {
		return s.flush()
	}
	return nil
}

func (s *syncer) remoteContent(p string) (content, error) {
	f, ok, err := s.r.remote.Lookup(s.ctx, s.arena, p)
	if err != nil {
		return content{}, fmt.Errorf("remote lookup %s/%s: %w", s.arena, p, err)
	}
	if !ok || f.Blob.IsZero() {
		return content{}, nil
	}
	return content{ok: true, blob: f.Blob, size: f.Size, mtime: f.Mtime}, nil
}

// holds reports whether row r keeps the bytes of what its path shows here
// (a plain upper file with a known blob), has being r's claim (see claim).
func holds(r *index.Row, has bool) bool { return has && r.Kind == index.File }

// entry is the notification for a path that showed o and now shows n;
// held and holds tell whether this peer kept the bytes before and now.
//
// Same content with a change of holding informs the other peers: a local
// file with the bytes a remote peer serves at the path (written here while
// this peer was cut off and the remote version arrived before the watcher
// indexed it, or copied up) is Available, so that the others know it can
// serve them, with its own mtime; a local copy removed while the remote
// version still shows through is a Drop, so that nobody counts on it.
func entry(arena, p string, o, n content, row *index.Row, held, holds bool) (history.Entry, bool) {
	now := time.Now()
	switch {
	case n.ok && (!o.ok || o.blob != n.blob):
		return history.Entry{Kind: history.Link, Arena: arena, Path: p, Mtime: history.Announced(n.mtime, now), Size: n.size,
			Blob: n.blob, PrevBlob: o.blob}, true
	case o.ok && !n.ok:
		mt := now
		if row != nil && row.Kind == index.Whiteout && !row.Mtime.IsZero() {
			mt = history.Announced(row.Mtime, now) // when the whiteout was made
		}
		return history.Entry{Kind: history.Unlink, Arena: arena, Path: p, Mtime: mt, PrevBlob: o.blob}, true
	case n.ok && holds && !held:
		return history.Entry{Kind: history.Available, Arena: arena, Path: p, Mtime: history.Announced(n.mtime, now), Size: n.size,
			Blob: n.blob}, true
	case o.ok && held && !holds:
		// Not older than the copy's announced mtime (the Unreal keeps an
		// entry that is newer than its removal).
		mt := now
		if a := history.Announced(o.mtime, now); a.After(now) {
			mt = a
		}
		return history.Entry{Kind: history.Drop, Arena: arena, Path: p, Mtime: mt, PrevBlob: o.blob}, true
	}
	return history.Entry{}, false
}
