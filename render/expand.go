package render

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	yaml "go.yaml.in/yaml/v3"
)

// CheckExpansion refuses YAML whose aliases expand it to more than max
// bytes: what a parser that copies each alias (Kustomize's, Helm's values,
// go-yaml's decoding to Go values) would build. The node tree is parsed
// without expanding anything and sized with each anchor counted once per
// use. Text that does not parse as YAML passes: the parser that reads it
// reports that. go-yaml's own alias check counts alias uses, not bytes,
// so a 5 MiB scalar used 99 times passes it; this does not.
func CheckExpansion(name string, data []byte, max int64) error {
	if !bytes.ContainsRune(data, '&') { // no anchor, nothing to expand
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var total int64
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return nil
		}
		s := sizer{memo: map[*yaml.Node]int64{}, open: map[*yaml.Node]bool{}, max: max - total, limit: max}
		n, err := s.size(&doc)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if total += n; total > max {
			return fmt.Errorf("%s: its YAML aliases expand it to more than %d bytes: %w", name, max, ErrLimit)
		}
	}
}

type sizer struct {
	memo  map[*yaml.Node]int64
	open  map[*yaml.Node]bool // being sized: an alias back to one is a cycle
	max   int64               // what is left of the limit
	limit int64
}

// size is n's expanded size, in bytes of scalar text plus one per node;
// it stops at max.
func (s *sizer) size(n *yaml.Node) (int64, error) {
	if v, ok := s.memo[n]; ok {
		return v, nil
	}
	if s.open[n] {
		return 0, errors.New("a YAML alias refers to a node that contains it")
	}
	s.open[n] = true
	defer delete(s.open, n)
	var v int64 = 1
	switch n.Kind {
	case yaml.ScalarNode:
		v += int64(len(n.Value))
	case yaml.AliasNode:
		if n.Alias == nil {
			return 0, nil
		}
		a, err := s.size(n.Alias)
		if err != nil {
			return 0, err
		}
		v = a
	default:
		for _, c := range n.Content {
			cs, err := s.size(c)
			if err != nil {
				return 0, err
			}
			if v += cs; v > s.max {
				return 0, fmt.Errorf("its YAML aliases expand it to more than %d bytes: %w", s.limit, ErrLimit)
			}
		}
	}
	s.memo[n] = v
	return v, nil
}
