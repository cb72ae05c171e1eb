-- Argo CD health check for cmk.io/v1alpha1 EmrServerlessSession (cmk-operator).
-- Install: argocd-cm key resource.customizations.health.cmk.io_EmrServerlessSession, or Argo CD's
-- resource_customizations layout (cmk.io/EmrServerlessSession/health.lua).
--
--   Progressing  the operator has not yet observed this generation, is working on it
--                (Reconciling=True), has not reported Ready, or reports Ready Unknown, or False
--                for a reason it retries by itself (transientReasons below);
--   Degraded     Stalled=True (only a change to the spec helps), or Ready=False for any
--                other reason;
--   Healthy      Ready=True, for the current generation.
--
-- The message is the Ready condition's. Lua 5.1 and 5.3 alike (Argo CD runs Lua 5.1): no goto,
-- no integer division, no bit operators.

-- Domain conditions that make the object Degraded as soon as they are False, even while the
-- operator keeps retrying.
local degradedWhenFalse = {}

-- Ready=False reasons the operator recovers from without a spec change.
local transientReasons = {
  AwsUnavailable = true,
  KeyCreating = true,
  KeyInUse = true,
  KmsKeyNotFound = true,
  KmsKeyNotReady = true,
  KmsUnavailable = true,
  Progressing = true,
  RestartPending = true,
  Restarting = true,
  Retrying = true,
  RotationPending = true,
  Stopping = true,
  Switching = true,
  Throttled = true,
  Transitioning = true,
  WaitingForApplicationStop = true,
  WaitingForJobs = true,
  WaitingForMaintenanceWindow = true,
}

local function findCondition(conditions, conditionType)
  for _, c in ipairs(conditions) do
    if c.type == conditionType then
      return c
    end
  end
  return nil
end

local function messageOf(preferred, fallback)
  if preferred ~= nil and preferred.message ~= nil and preferred.message ~= "" then
    return preferred.message
  end
  if fallback ~= nil and fallback.message ~= nil then
    return fallback.message
  end
  return ""
end

local hs = {}

if obj.status == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report status"
  return hs
end

local conditions = obj.status.conditions or {}
local ready = findCondition(conditions, "Ready")

local generation = obj.metadata.generation
local observed = obj.status.observedGeneration
if observed == nil and ready ~= nil then
  observed = ready.observedGeneration
end
if generation ~= nil and observed ~= nil and observed < generation then
  hs.status = "Progressing"
  hs.message = string.format(
    "Waiting for the operator to observe generation %d (it reported %d)", generation, observed)
  return hs
end

local stalled = findCondition(conditions, "Stalled")
if stalled ~= nil and stalled.status == "True" then
  hs.status = "Degraded"
  hs.message = messageOf(ready, stalled)
  return hs
end

for _, conditionType in ipairs(degradedWhenFalse) do
  local c = findCondition(conditions, conditionType)
  if c ~= nil and c.status == "False" then
    hs.status = "Degraded"
    hs.message = messageOf(ready, c)
    return hs
  end
end

local reconciling = findCondition(conditions, "Reconciling")
if reconciling ~= nil and reconciling.status == "True" then
  hs.status = "Progressing"
  hs.message = messageOf(ready, reconciling)
  return hs
end

if ready == nil then
  hs.status = "Progressing"
  hs.message = "Waiting for the operator to report Ready"
  return hs
end

hs.message = messageOf(ready, nil)
if ready.status == "True" then
  hs.status = "Healthy"
elseif ready.status == "False" and not transientReasons[ready.reason] then
  hs.status = "Degraded"
else
  hs.status = "Progressing"
end
return hs
