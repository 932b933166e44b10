-- Argo CD health check for heimdall.io/HeimdallInstance, read from the status the operator
-- writes. Install it as the argocd-cm key
-- resource.customizations.health.heimdall.io_HeimdallInstance (see docs/gitops.md).
--   Degraded=True                       -> Degraded (reason: message)
--   Ready=True                          -> Healthy
--   no status, an older generation,     -> Progressing
--   or anything else
local hs = { status = "Progressing", message = "Waiting for the operator to report status" }
if obj.status == nil or (obj.status.observedGeneration == nil and obj.status.conditions == nil) then
  return hs
end

-- Conditions of an older spec say nothing about the current one.
local generation = obj.metadata.generation
if generation ~= nil and (obj.status.observedGeneration == nil or obj.status.observedGeneration < generation) then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end

local conditions = {}
if obj.status.conditions ~= nil then
  for _, c in ipairs(obj.status.conditions) do
    conditions[c.type] = c
  end
end

local function describe(c)
  if c.message ~= nil and c.message ~= "" then
    return c.reason .. ": " .. c.message
  end
  return c.reason
end

local degraded = conditions["Degraded"]
if degraded ~= nil and degraded.status == "True" then
  hs.status = "Degraded"
  hs.message = describe(degraded)
  return hs
end

local ready = conditions["Ready"]
if ready ~= nil and ready.status == "True" then
  hs.status = "Healthy"
  hs.message = describe(ready)
  return hs
end

-- Still working: say on what (a migration, components starting, ...).
local progressing = conditions["Progressing"]
if progressing ~= nil and progressing.status == "True" then
  hs.message = describe(progressing)
elseif ready ~= nil then
  hs.message = describe(ready)
end
return hs
