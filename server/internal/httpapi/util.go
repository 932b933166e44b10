package httpapi

import (
	"encoding/json"
	"io"
	"sort"
)

func jsonEncode(w io.Writer, v any) error { return json.NewEncoder(w).Encode(v) }

func sortStrings(s []string) { sort.Strings(s) }
