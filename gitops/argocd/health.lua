-- Argo CD health of a tuneforge FineTuneJob, MergeJob or QuantizeJob (the same script for all three).
-- Install: argocd-cm keys resource.customizations.health.tuneforge.io_FineTuneJob, _MergeJob and
-- _QuantizeJob, each holding this script (examples/gitops/argocd-cm.yaml).
-- Argo CD maps: Progressing (applied, waiting or running), Healthy (Succeeded), Degraded (Failed or
-- an invalid spec: Stalled), Suspended (runPolicy.suspend or waiting for a Kueue queue).
local hs = { status = "Progressing", message = "Waiting for the tuneforge operator" }
if obj.status == nil then
  return hs
end
local status = obj.status
local generation = obj.metadata and obj.metadata.generation
if generation ~= nil and status.observedGeneration ~= nil and status.observedGeneration < generation then
  hs.message = "Waiting for the operator to observe generation " .. tostring(generation)
  return hs
end
local stalled = nil
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Stalled" and condition.status == "True" then
      stalled = condition
    end
  end
end
local message = status.message or ""
if status.phase == "Succeeded" then
  hs.status = "Healthy"
  hs.message = message ~= "" and message or "Succeeded"
  if status.output ~= nil and status.output.uri ~= nil then
    hs.message = "Succeeded: " .. status.output.uri
  end
elseif status.phase == "Failed" or stalled ~= nil then
  hs.status = "Degraded"
  if stalled ~= nil and stalled.message ~= nil then
    hs.message = stalled.message
  else
    hs.message = message ~= "" and message or "Failed"
  end
elseif status.phase == "Suspended" then
  hs.status = "Suspended"
  hs.message = message ~= "" and message or "Suspended"
else
  hs.status = "Progressing"
  hs.message = message ~= "" and message or (status.phase or "Pending")
  if status.progress ~= nil and status.progress.percent ~= nil then
    hs.message = (status.phase or "Running") .. ": " .. tostring(status.progress.percent) .. "%"
    if status.progress.eta ~= nil then
      hs.message = hs.message .. ", " .. status.progress.eta .. " left"
    end
  end
end
return hs
