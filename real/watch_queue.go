package real

import (
	"sync"

	"github.com/fsnotify/fsnotify"
)

// eventQueue takes fsnotify's events and errors as they come, in a goroutine
// of its own (pump), so that fsnotify's reader never waits for the watcher
// loop. It must not: fsnotify sends some errors while it holds the lock that
// Add and Remove take, so a loop busy watching new directories (or rescanning)
// while fsnotify waits to hand it an error deadlocks (seen: a rescan's Add
// against an IN_MOVE_SELF error). A full queue drops its events and reports
// one fsnotify.ErrEventOverflow instead: the loop rescans, nothing is lost.
type eventQueue struct {
	ready chan struct{} // has a value when there is something to take

	mu       sync.Mutex
	max      int // events held at most
	evs      []fsnotify.Event
	errs     []error
	overflow bool // events were dropped since the last take
	closed   bool // fsnotify closed its channels
}

func newEventQueue(max int) *eventQueue {
	return &eventQueue{ready: make(chan struct{}, 1), max: max}
}

// pump moves everything fsnotify sends into the queue until fw is closed.
func (q *eventQueue) pump(fw *fsnotify.Watcher) {
	events, errs := fw.Events, fw.Errors
	for events != nil || errs != nil {
		select {
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			q.put(func() {
				if len(q.evs) >= q.max {
					q.evs, q.overflow = nil, true
				}
				if !q.overflow {
					q.evs = append(q.evs, ev)
				}
			})
		case err, ok := <-errs:
			if !ok {
				errs = nil
				continue
			}
			q.put(func() { q.errs = append(q.errs, err) })
		}
	}
	q.put(func() { q.closed = true })
}

// put changes the queue under its lock and signals the loop.
func (q *eventQueue) put(change func()) {
	q.mu.Lock()
	change()
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

// take returns what was queued since the last take: the events in order
// (none if some were dropped), the errors (an overflow among them when
// events were dropped), and whether fsnotify has closed.
func (q *eventQueue) take() (evs []fsnotify.Event, errs []error, closed bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	evs, errs, closed = q.evs, q.errs, q.closed
	if q.overflow {
		evs = nil
		errs = append(errs, fsnotify.ErrEventOverflow)
	}
	q.evs, q.errs, q.overflow = nil, nil, false
	return evs, errs, closed
}
