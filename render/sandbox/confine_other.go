//go:build !linux

package sandbox

// confine has nothing to apply outside Linux: the worker still runs apart,
// with the wall-clock and output limits its caller enforces.
func confine(root string, lim Limits, fsToo bool) ([]string, error) {
	return []string{"render sandbox: memory, CPU, file and network limits need Linux; only time and output are limited here"}, nil
}
