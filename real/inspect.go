package real

// UpperFacts are the overlay xattrs of one upper entry (trusted.overlay.* or
// user.overlay.*), for tools that check an upper (verify).
type UpperFacts struct {
	Metacopy    bool
	Whiteout    bool   // overlay.whiteout (an xattr whiteout when the file is empty)
	Opaque      bool   // overlay.opaque = "y"
	Redirect    string // raw overlay.redirect
	HasRedirect bool
}

// ReadUpperFacts reads the overlay xattrs of the upper entry at path (not
// following symlinks).
func ReadUpperFacts(path string) (UpperFacts, error) {
	f, err := readFacts(path)
	return UpperFacts{Metacopy: f.metacopy, Whiteout: f.whiteout, Opaque: f.opaque, Redirect: f.redirect, HasRedirect: f.hasRedir}, err
}

// ResolveRedirect returns the lower path ("arena/dir/name") an
// overlay.redirect value names, for an entry whose parent merges the lower
// dir parentLower ("" = none).
func ResolveRedirect(value, parentLower string) (string, error) {
	return parseRedirect(value, parentLower)
}
