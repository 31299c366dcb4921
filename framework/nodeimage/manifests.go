package nodeimage

import "strings"

// cniManifest is /kind/manifests/default-cni.yaml: kind applies it at cluster
// creation. IMAGE is replaced by the preloaded noderoutes image.
const cniManifest = `# pvreboot's pod network for offline node images: ptp + host-local CNI and
# routes to other nodes' podCIDRs, kept by the noderoutes daemon.
---
apiVersion: v1
kind: ServiceAccount
metadata:
  name: noderoutes
  namespace: kube-system
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: noderoutes
rules:
- apiGroups: [""]
  resources: [nodes]
  verbs: [list, watch, get]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: noderoutes
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: noderoutes
subjects:
- kind: ServiceAccount
  name: noderoutes
  namespace: kube-system
---
apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: noderoutes
  namespace: kube-system
  labels: {app: noderoutes, k8s-app: noderoutes}
spec:
  selector:
    matchLabels: {app: noderoutes}
  template:
    metadata:
      labels: {app: noderoutes, k8s-app: noderoutes}
    spec:
      hostNetwork: true
      nodeSelector: {kubernetes.io/os: linux}
      tolerations: [{operator: Exists}]
      priorityClassName: system-node-critical
      serviceAccountName: noderoutes
      containers:
      - name: noderoutes
        image: IMAGE
        imagePullPolicy: IfNotPresent
        command: [/noderoutes]
        env:
        - name: NODE_NAME
          valueFrom: {fieldRef: {fieldPath: spec.nodeName}}
        volumeMounts:
        - {name: cni-cfg, mountPath: /etc/cni/net.d}
        resources:
          requests: {cpu: 10m, memory: 20Mi}
        securityContext:
          privileged: false
          capabilities: {add: [NET_RAW, NET_ADMIN]}
      volumes:
      - name: cni-cfg
        hostPath: {path: /etc/cni/net.d, type: DirectoryOrCreate}
`

// storageManifest is /kind/manifests/default-storage.yaml: a default
// StorageClass for statically provisioned local volumes (no provisioner image
// is needed, none can be pulled).
const storageManifest = `apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: standard
  annotations:
    storageclass.kubernetes.io/is-default-class: "true"
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
`

func renderCNIManifest(image string) string { return strings.ReplaceAll(cniManifest, "IMAGE", image) }
