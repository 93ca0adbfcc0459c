package simulator

// How the simulator speaks HTTP: routes, bodies, and its JSON and error
// answers as Commvault writes them.

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// parseRoute strips any base prefix ending in /commandcenter/api or
// /webconsole/api and names the endpoint, case-insensitively.
func parseRoute(path string) (op Op, id string, known bool) {
	lower := strings.ToLower(path)
	for _, base := range []string{"/commandcenter/api", "/webconsole/api"} {
		if i := strings.LastIndex(lower, base+"/"); i >= 0 {
			path = path[i+len(base):]
			break
		}
		if strings.HasSuffix(lower, base) {
			path = "/"
			break
		}
	}
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if len(parts) == 4 && strings.EqualFold(parts[0], "job") && strings.EqualFold(parts[2], "action") &&
		strings.EqualFold(parts[3], "kill") {
		return OpKill, parts[1], true
	}
	if len(parts) == 3 && strings.EqualFold(parts[0], "v4") && strings.EqualFold(parts[1], "accesstoken") &&
		strings.EqualFold(parts[2], "renew") {
		return OpRenew, "", true
	}
	if len(parts) > 2 {
		return OpAny, "", false
	}
	if len(parts) == 2 {
		id = parts[1]
	}
	switch strings.ToLower(parts[0]) {
	case "login":
		return OpLogin, "", len(parts) == 1
	case "createtask":
		return OpCreateTask, "", len(parts) == 1
	case "subclient":
		return OpSubclient, id, true
	case "job":
		return OpJob, id, true
	case "instance":
		return OpInstance, id, len(parts) == 2
	}
	return OpAny, "", false
}

func methodFor(op Op) string {
	if op == OpLogin || op == OpCreateTask || op == OpKill || op == OpRenew {
		return http.MethodPost
	}
	return http.MethodGet
}

// readBody reads at most maxBodyBytes of the request body.
func readBody(w http.ResponseWriter, r *http.Request) (body []byte, tooLarge bool) {
	if r.Body == nil {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return nil, true
	}
	return body, false
}

// lowerQuery maps lower-cased query parameter names to their first value.
func lowerQuery(q url.Values) map[string]string {
	out := make(map[string]string, len(q))
	for k, v := range q {
		lk := strings.ToLower(k)
		if _, seen := out[lk]; !seen && len(v) > 0 {
			out[lk] = v[0]
		}
	}
	return out
}

type statusWriter struct {
	http.ResponseWriter
	status int
}

// errorBody is Commvault's flat error answer.
type errorBody struct {
	ErrorCode    int    `json:"errorCode"`
	ErrorMessage string `json:"errorMessage"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		writeText(w, http.StatusInternalServerError, "Internal error.")
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, http.StatusOK, errorBody{ErrorCode: code, ErrorMessage: msg})
}

func writeText(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg)
}

func writeAccessDenied(w http.ResponseWriter) {
	writeJSON(w, http.StatusUnauthorized, errorBody{ErrorCode: 5, ErrorMessage: "Access denied"})
}

func writeBadBody(w http.ResponseWriter) {
	writeText(w, http.StatusBadRequest, "Request body is empty or format is invalid.")
}
