package commvault

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// KillJob asks Commvault to kill a job (POST /Job/{id}/action/kill, empty
// body). Commvault answers HTTP 200 either way; a nonzero errorCode, in
// either of the shapes it uses for job actions ({"errors":[{"errList":
// [{errorCode, errLogMessage}]}]} or {errorCode, errorMessage}), is a
// refusal: the job has already ended, does not exist, or the user may not
// kill it. A refusal is *APIError with StatusCode 200 and Code set. Nil means
// Commvault took the kill: the job shows Kill Pending, then Killed.
//
// A kill that may have reached Commvault without an answer (a timeout
// after it was written, a gateway error) is ErrOutcomeUnknown: read the
// job to see whether it is being killed. It is never sent twice, except
// once after a 401 that refused the first attempt.
func (c *Client) KillJob(ctx context.Context, id string) error {
	n, err := strconv.ParseUint(strings.TrimSpace(id), 10, 64)
	if err != nil || n == 0 {
		return fmt.Errorf("kill job %q: not a job ID: %w", id, ErrJobNotFound)
	}
	id = strconv.FormatUint(n, 10)
	r := request{method: http.MethodPost, path: "/Job/" + id + "/action/kill", mutates: true}
	if err := c.do(ctx, r, nil); err != nil {
		return fmt.Errorf("kill job %s: %w", id, err)
	}
	return nil
}
