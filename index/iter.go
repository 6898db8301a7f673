package index

import (
	"context"
	"iter"
)

// All returns the rows of arena at dir or under it in tree order, as Scan does.
func (ix *Index) All(ctx context.Context, arena, dir string) iter.Seq2[Row, error] {
	return func(yield func(Row, error) bool) {
		stop := false
		err := ix.Scan(ctx, arena, dir, func(r Row) error {
			if !yield(r, nil) {
				stop = true
				return errStop
			}
			return nil
		})
		if err != nil && !stop {
			yield(Row{}, err)
		}
	}
}

type stopErr struct{}

func (stopErr) Error() string { return "stop" }

var errStop error = stopErr{}
