package render

import (
	"fmt"
	"sort"
	"text/template/parse"

	"helm.sh/helm/v3/pkg/chart"
)

// lookupWarnings names the templates of c (and of its subcharts) that call
// Helm's lookup, which returns nothing when plumb renders: charts render
// without access to the cluster. The templates are parsed, not matched as
// text, so a comment or a string that mentions lookup is no call; every call
// counts, taken or not, since which branch runs depends on the cluster.
func lookupWarnings(c *chart.Chart) []string {
	var out []string
	var walk func(c *chart.Chart, prefix string)
	walk = func(c *chart.Chart, prefix string) {
		for _, t := range c.Templates {
			if callsLookup(t.Data) {
				out = append(out, fmt.Sprintf("%s%s: calls lookup, which returns nothing here: plumb renders charts without reading the cluster", prefix, t.Name))
			}
		}
		for _, d := range c.Dependencies() {
			walk(d, prefix+"charts/"+d.Name()+"/")
		}
	}
	walk(c, c.Name()+"/")
	sort.Strings(out)
	return out
}

// callsLookup reports whether a template calls the function lookup. A
// template that does not parse is Helm's to report.
func callsLookup(src []byte) bool {
	trees := map[string]*parse.Tree{}
	tree := &parse.Tree{Name: "t", Mode: parse.SkipFuncCheck}
	if _, err := tree.Parse(string(src), "{{", "}}", trees); err != nil {
		return false
	}
	trees[""] = tree // the template's own body, besides its defines
	for _, t := range trees {
		if t.Root != nil && hasLookup(t.Root) {
			return true
		}
	}
	return false
}

// hasLookup walks a parse tree for an identifier lookup.
func hasLookup(n parse.Node) bool {
	switch n := n.(type) {
	case *parse.IdentifierNode:
		return n.Ident == "lookup"
	case *parse.ListNode:
		return anyNode(n.Nodes)
	case *parse.ActionNode:
		return hasLookup(n.Pipe)
	case *parse.PipeNode:
		for _, c := range n.Cmds {
			if hasLookup(c) {
				return true
			}
		}
	case *parse.CommandNode:
		return anyNode(n.Args)
	case *parse.IfNode:
		return branch(&n.BranchNode)
	case *parse.RangeNode:
		return branch(&n.BranchNode)
	case *parse.WithNode:
		return branch(&n.BranchNode)
	case *parse.TemplateNode:
		return n.Pipe != nil && hasLookup(n.Pipe)
	case *parse.ChainNode: // (lookup ...).data
		return hasLookup(n.Node)
	}
	return false
}

func branch(b *parse.BranchNode) bool {
	return hasLookup(b.Pipe) || (b.List != nil && hasLookup(b.List)) || (b.ElseList != nil && hasLookup(b.ElseList))
}

func anyNode(nodes []parse.Node) bool {
	for _, c := range nodes {
		if c != nil && hasLookup(c) {
			return true
		}
	}
	return false
}
