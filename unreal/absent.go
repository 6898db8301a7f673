package unreal

import "sync"

// maxAbsent bounds the names absentSet remembers; past it, it only
// remembers that it overflowed and then any new name counts as seen absent.
const maxAbsent = 1 << 16

// absentSet remembers the full paths a Lookup may have answered ENOENT
// since the last dentry drop: exactly the names for which the overlay can
// hold a negative dentry of its own (see invalidate.go).
//
// A Lookup marks the name before it reads the database and unmarks it only
// if it found the name, so that a lookup racing with an Apply that adds the
// name is never missed: either it read the new state, or its mark was there
// when the Apply's invalidation looked.
type absentSet struct {
	mu       sync.Mutex
	names    map[string]int // marks per name: in-flight or answered-absent lookups
	overflow bool
}

func (a *absentSet) mark(full string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.names == nil {
		a.names = make(map[string]int)
	}
	if a.overflow {
		return
	}
	if len(a.names) >= maxAbsent {
		a.names = make(map[string]int)
		a.overflow = true
		return
	}
	a.names[full]++
}

// found undoes the mark of a lookup that found the name.
func (a *absentSet) found(full string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if n := a.names[full]; n > 1 {
		a.names[full] = n - 1
	} else {
		delete(a.names, full)
	}
}

// take reports whether full may have been answered absent, and forgets it.
func (a *absentSet) take(full string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.names[full]
	delete(a.names, full)
	return ok || a.overflow
}

// reset forgets everything: called right before the kernel drops its
// unused dentries, negative ones included.
func (a *absentSet) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.names = make(map[string]int)
	a.overflow = false
}
