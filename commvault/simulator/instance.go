package simulator

import (
	"fmt"
	"net/http"
	"strconv"
)

// instanceEntity is instanceProperties[].instance.
type instanceEntity struct {
	Type          int    `json:"_type_"` // 5: INSTANCE_ENTITY
	ClientName    string `json:"clientName"`
	ClientID      int    `json:"clientId"`
	InstanceName  string `json:"instanceName"`
	InstanceID    int    `json:"instanceId"`
	AppName       string `json:"appName"`
	ApplicationID int    `json:"applicationId"`
}

// cloudAppsInstance is instanceProperties[].cloudAppsInstance: instanceType
// says which cloud agent the instance is (22: DynamoDB).
type cloudAppsInstance struct {
	InstanceType int `json:"instanceType"`
}

type instanceProperties struct {
	Instance  instanceEntity     `json:"instance"`
	CloudApps *cloudAppsInstance `json:"cloudAppsInstance,omitempty"`
}

type instanceAnswer struct {
	InstanceProperties []instanceProperties `json:"instanceProperties"`
}

const entityInstance = 5

// handleInstance answers GET /Instance/{id} with the instance's properties:
// for a Cloud Apps instance, cloudAppsInstance.instanceType, as cvpysdk
// reads it to tell RDS (4), DynamoDB (22), Redshift (26)… apart.
func (s *Server) handleInstance(w http.ResponseWriter, id string) {
	n, err := strconv.Atoi(id)
	if id == "" || err != nil {
		writeError(w, codeBadQuery, fmt.Sprintf("Invalid input: instance id [%s] is not a number.", id))
		return
	}
	for _, sc := range s.subs {
		if sc.instanceID != n {
			continue
		}
		p := instanceProperties{Instance: instanceEntity{
			Type: entityInstance, ClientName: sc.clientName, ClientID: sc.clientID,
			InstanceName: sc.instanceName, InstanceID: sc.instanceID, AppName: sc.appName, ApplicationID: sc.appID,
		}}
		if sc.appID == appCloudApps {
			p.CloudApps = &cloudAppsInstance{InstanceType: sc.instType}
		}
		writeJSON(w, http.StatusOK, instanceAnswer{InstanceProperties: []instanceProperties{p}})
		return
	}
	writeError(w, codeClientNotFound, fmt.Sprintf("Instance [%s] not found.", id))
}
