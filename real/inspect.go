package real

// UpperFacts are the overlay xattrs of one upper entry, for tools that
// check an upper (verify).
type UpperFacts struct {
	Metacopy    bool
	Whiteout    bool   // overlay.whiteout (an xattr whiteout when the file is empty)
	Opaque      bool   // overlay.opaque = "y"
	Redirect    string // raw overlay.redirect
	HasRedirect bool
}

// ReadUpperFacts reads the overlay xattrs of the upper entry at path (not
// following symlinks): user.overlay.* when userXattr (an overlay mounted
// with userxattr), else trusted.overlay.* (see Layers.UserXattr).
func ReadUpperFacts(path string, userXattr bool) (UpperFacts, error) {
	f, err := readFacts(path, overlayPrefix(userXattr))
	return UpperFacts{Metacopy: f.metacopy, Whiteout: f.whiteout, Opaque: f.opaque, Redirect: f.redirect, HasRedirect: f.hasRedir}, err
}

// ResolveRedirect returns the lower path ("arena/dir/name") an
// overlay.redirect value names, for an entry whose parent merges the lower
// dir parentLower ("" = none).
func ResolveRedirect(value, parentLower string) (string, error) {
	return parseRedirect(value, parentLower)
}
