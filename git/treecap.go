package git

import (
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/filemode"
	"github.com/go-git/go-git/v5/plumbing/object"
)

// Caps on one commit's tree. Git objects are shared: 17 trees of under
// 1 KB, each naming the next ten times, spell 10^9 paths, so a tree is
// measured (each distinct subtree once) before anything walks its paths.
const (
	MaxTreeFiles = 500_000
	MaxTreeDepth = 128
)

type treeSize struct{ files, depth int }

// checkTree refuses a commit whose tree holds more than MaxTreeFiles files
// or nests deeper than MaxTreeDepth, naming the cap.
func (l *Local) checkTree(commit string, t *object.Tree) error {
	memo := map[plumbing.Hash]treeSize{}
	s, err := l.measure(t, memo, 0)
	if err != nil {
		return fmt.Errorf("tree of %s: %w", short(commit), err)
	}
	if s.files > MaxTreeFiles {
		return fmt.Errorf("tree of %s: more than %d files: %w", short(commit), MaxTreeFiles, ErrTooLarge)
	}
	return nil
}

// measure counts t's files and depth; each subtree is read once, however
// often it is named, and counting stops past the caps.
func (l *Local) measure(t *object.Tree, memo map[plumbing.Hash]treeSize, level int) (treeSize, error) {
	if s, ok := memo[t.Hash]; ok {
		return s, nil
	}
	if level > MaxTreeDepth {
		return treeSize{}, fmt.Errorf("directories nested more than %d deep: %w", MaxTreeDepth, ErrTooLarge)
	}
	var s treeSize
	for _, e := range t.Entries {
		switch e.Mode {
		case filemode.Dir:
			sub, err := l.repo.TreeObject(e.Hash)
			if err != nil {
				return treeSize{}, fmt.Errorf("%s: %w", e.Name, err)
			}
			c, err := l.measure(sub, memo, level+1)
			if err != nil {
				return treeSize{}, err
			}
			s.files += c.files
			s.depth = max(s.depth, c.depth+1)
		case filemode.Submodule:
		default:
			s.files++
		}
		if s.files > MaxTreeFiles {
			return s, nil
		}
	}
	memo[t.Hash] = s
	return s, nil
}
