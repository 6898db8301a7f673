// Package unreal is "the Unreal": the read-only FUSE filesystem that shows
// the files other peers report, mounted at STORE/lower and used as the lower
// layer of the overlay whose merged view users see.
//
// It has two halves:
//   - Cache (cache.go, apply.go, query.go): the SQLite tables unreal_* in
//     STORE/real.db holding, per (peer, arena, path), the size, mtime and
//     blob a peer reported, the history progress of each peer, the implied
//     directories and the persistent inode numbers. Apply takes a batch of
//     history notifications from one peer in one transaction.
//   - Server (mount.go, node.go, read.go, xattr.go, invalidate.go): the
//     go-fuse filesystem over the Cache. File data is read through a Fetcher
//     (the RPC to the peer serving the version). After every Apply the
//     kernel caches of the touched paths are invalidated so that the overlay
//     merged view shows the change within a second.
//
// See README.md for the semantics.
package unreal
