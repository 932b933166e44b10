// Package compose checks the local stack (docker-compose.dev.yml, docker-compose.yml,
// .env.example, deploy/, hack/gen-jwt-keys.sh) against the server's real configuration and the
// operator's defaults. Docker cannot run here, so the files are checked, not started.
package compose

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"strconv"
)

// ServerEnv is what server/internal/config reads, taken from its source (the server is its own
// module and the package is internal, so it cannot be imported).
type ServerEnv struct {
	Names    []string        // the package's Names list: every variable the server reads
	Required map[string]bool // variables Load rejects when empty
}

// ParseServerEnv reads config.go: Names, and which variables Load reads through a loader method
// that calls l.required (directly or, like url and file, on the way).
func ParseServerEnv(path string) (ServerEnv, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
	if err != nil {
		return ServerEnv{}, err
	}
	env := ServerEnv{Required: map[string]bool{}}
	requiring := map[string]bool{"required": true}
	var load *ast.FuncDecl
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.GenDecl:
			for _, s := range d.Specs {
				if vs, ok := s.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == "Names" && len(vs.Values) == 1 {
					env.Names = stringLits(vs.Values[0])
				}
			}
		case *ast.FuncDecl:
			if d.Name.Name == "Load" && d.Recv == nil {
				load = d
			} else if d.Recv != nil && callsLoader(d, "required") {
				requiring[d.Name.Name] = true
			}
		}
	}
	if load == nil || len(env.Names) == 0 {
		return env, fmt.Errorf("%s: no Load function or Names list", path)
	}
	for method := range requiring {
		for _, name := range loaderCalls(load, method) {
			env.Required[name] = true
		}
	}
	return env, nil
}

// callsLoader tells whether fn calls l.<method>(...) with any arguments.
func callsLoader(fn *ast.FuncDecl, method string) bool {
	found := false
	ast.Inspect(fn, func(n ast.Node) bool {
		if call, ok := n.(*ast.CallExpr); ok {
			if sel, ok := call.Fun.(*ast.SelectorExpr); ok && sel.Sel.Name == method {
				if x, ok := sel.X.(*ast.Ident); ok && x.Name == "l" {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

// loaderCalls lists the string first arguments of calls l.<method>("NAME", ...) in fn.
func loaderCalls(fn *ast.FuncDecl, method string) []string {
	var names []string
	ast.Inspect(fn, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok || len(call.Args) == 0 {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || sel.Sel.Name != method {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != "l" {
			return true
		}
		if lit, ok := call.Args[0].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				names = append(names, s)
			}
		}
		return true
	})
	return names
}

func stringLits(e ast.Expr) []string {
	cl, ok := e.(*ast.CompositeLit)
	if !ok {
		return nil
	}
	var out []string
	for _, el := range cl.Elts {
		if lit, ok := el.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				out = append(out, s)
			}
		}
	}
	return out
}
