-- Argo CD health check for cmk.io/v1alpha1 KeyReferenceGrant (cmk-operator).
-- Install: argocd-cm key resource.customizations.health.cmk.io_KeyReferenceGrant, or Argo CD's
-- resource_customizations layout (cmk.io/KeyReferenceGrant/health.lua).
--
-- A grant is a statement, not a resource the operator reconciles: it has no status and is
-- Healthy once it exists. (Workloads that rely on it report ReferenceNotGranted without it.)
-- Lua 5.1 and 5.3 alike (Argo CD runs Lua 5.1).

local hs = {}
hs.status = "Healthy"
hs.message = ""
if obj.spec ~= nil and obj.spec.from ~= nil then
  local namespaces = {}
  for _, f in ipairs(obj.spec.from) do
    table.insert(namespaces, f.namespace)
  end
  hs.message = "Grants namespaces " .. table.concat(namespaces, ", ")
end
return hs
