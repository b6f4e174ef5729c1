// Command sizes enforces the house rule of thumb on plumb's Go files: no
// non-generated file over 400 lines and no function over 80, where the
// lines of a table test's table (a slice of struct literals) do not count.
// It prints each offender and exits 1 when there is one.
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"strings"
)

const (
	maxFileLines = 400
	maxFuncLines = 80
)

func main() {
	out, err := exec.Command("git", "ls-files", "--cached", "--others", "--exclude-standard", "*.go").Output()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sizes: git ls-files:", err)
		os.Exit(2)
	}
	bad := 0
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		n, err := check(sc.Text())
		if err != nil {
			fmt.Fprintln(os.Stderr, "sizes:", err)
			os.Exit(2)
		}
		bad += n
	}
	if bad > 0 {
		os.Exit(1)
	}
}

// check reports the file's offences and returns how many there were.
func check(path string) (int, error) {
	src, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return 0, nil // deleted but not yet staged
	}
	if err != nil {
		return 0, err
	}
	if generated(src) || strings.HasPrefix(path, "hack/tools/") {
		return 0, nil
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, 0)
	if err != nil {
		return 0, err
	}
	bad := 0
	if n := fset.Position(f.End()).Line; n > maxFileLines {
		fmt.Printf("%s: %d lines (over %d)\n", path, n, maxFileLines)
		bad++
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		lines := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1 - tableLines(fset, fn.Body)
		if lines > maxFuncLines {
			fmt.Printf("%s:%d: func %s: %d lines (over %d, tables aside)\n", path, fset.Position(fn.Pos()).Line, fn.Name.Name, lines, maxFuncLines)
			bad++
		}
	}
	return bad, nil
}

// tableLines counts the lines of slice-of-struct literals in body: the
// tables of table tests.
func tableLines(fset *token.FileSet, body *ast.BlockStmt) int {
	n := 0
	ast.Inspect(body, func(node ast.Node) bool {
		lit, ok := node.(*ast.CompositeLit)
		if !ok {
			return true
		}
		if arr, ok := lit.Type.(*ast.ArrayType); ok {
			_, anonymous := arr.Elt.(*ast.StructType)
			// A named element type is a table too when its rows are literals.
			named := len(lit.Elts) > 0 && isLiteral(lit.Elts[0])
			if anonymous || named {
				n += fset.Position(lit.End()).Line - fset.Position(lit.Pos()).Line + 1
				return false
			}
		}
		return true
	})
	return n
}

func isLiteral(e ast.Expr) bool {
	_, ok := e.(*ast.CompositeLit)
	return ok
}

func generated(src []byte) bool {
	head := src[:min(len(src), 400)]
	return bytes.Contains(head, []byte("Code generated")) && bytes.Contains(head, []byte("DO NOT EDIT"))
}
