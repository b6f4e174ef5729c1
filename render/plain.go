package render

import (
	"fmt"
	"io/fs"
	"path"
	"strings"
)

var defaultInclude = []string{"*.yaml", "*.yml", "*.json"}

// renderPlain reads every manifest file of dir (and its subdirectories when
// recursive) in path order. Symlinked files are read through the checkout
// filesystem (so one that leaves the repository is an error); symlinked
// directories are not descended into, which rules out cycles.
func renderPlain(cfs *checkoutFS, dir string, opts Options) (*Result, error) {
	po := opts.Plain
	include := po.Include
	if len(include) == 0 {
		include = defaultInclude
	}
	for _, g := range append(append([]string{}, include...), po.Exclude...) {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("glob %q: %w", g, err)
		}
	}
	var docs []sourcedDoc
	err := fs.WalkDir(cfs.root.FS(), dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return cfs.wrapErr(p, err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if d.IsDir() {
			if p != dir && (!po.Recursive || strings.HasPrefix(d.Name(), ".")) {
				return fs.SkipDir
			}
			return nil
		}
		if !matchAny(include, rel) || matchAny(po.Exclude, rel) {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := cfs.stat(p)
			if err != nil {
				return err
			}
			if st.IsDir() {
				return nil
			}
		} else if !d.Type().IsRegular() {
			return nil
		}
		data, err := cfs.readFile(p)
		if err != nil {
			return err
		}
		for _, doc := range splitDocuments(data) {
			docs = append(docs, sourcedDoc{source: p, doc: doc})
		}
		if len(docs) > opts.Limits.MaxObjects {
			return fmt.Errorf("%s: more than %d documents: %w", p, opts.Limits.MaxObjects, ErrLimit)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	decoded, err := decodeAll(docs, opts.Cache)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for i, objs := range decoded {
		for _, u := range objs {
			res.Objects = append(res.Objects, Object{Object: u, Origin: Origin{File: docs[i].source, Index: docs[i].doc.index}})
		}
	}
	return res, nil
}

func matchAny(globs []string, rel string) bool {
	base := path.Base(rel)
	for _, g := range globs {
		if ok, _ := path.Match(g, rel); ok {
			return true
		}
		if ok, _ := path.Match(g, base); ok {
			return true
		}
	}
	return false
}
