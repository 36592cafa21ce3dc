using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Registry;

namespace MultiArch.Build.Tasks.RegistryTest;

/// <summary>The registry self-test, part two: deleting what a run pushed, and finding what is left behind.</summary>
internal sealed partial class RegistryCapabilityTester
{
    private sealed partial class TestRun
    {
        /// <summary>Deletes every manifest the run pushed (parents before children), then its blobs; says what is still there.</summary>
        private async Task<(CapabilityResult Result, List<string> LeftBehind)> DeleteAsync(CancellationToken cancellationToken)
        {
            const string Name = RegistryCapabilities.Delete;
            var manifests = Enumerable.Reverse(_pushed).DistinctBy(p => (p.Repository.Repository, p.Content.Digest)).ToList();
            if (!_options.Cleanup)
            {
                return (new CapabilityResult(Name, CapabilityState.Skipped, "ContainerRegistryTestCleanup is false: nothing was deleted"), PushedReferences(manifests));
            }

            if (manifests.Count == 0 && _blobs.Count == 0)
            {
                return (new CapabilityResult(Name, CapabilityState.Skipped, "nothing was pushed"), []);
            }

            RegistryAnswer? refusal = null;
            var deleted = new HashSet<(string, Digest)>();
            foreach (var manifest in manifests)
            {
                var answer = await _client.DeleteReferenceAsync(manifest.Repository.WithDigest(manifest.Content.Digest), cancellationToken);
                if (answer.IsSuccess)
                {
                    deleted.Add((manifest.Repository.Repository, manifest.Content.Digest));
                    continue;
                }

                refusal ??= answer;
                if (answer.Status == (int)HttpStatusCode.MethodNotAllowed)
                {
                    break; // the registry allows no DELETE at all
                }
            }

            var blobNote = string.Empty;
            if (refusal is null)
            {
                var blobs = _blobs.DistinctBy(b => (b.Repository.Repository, b.Digest)).ToList();
                var blobsDeleted = 0;
                foreach (var (repository, digest) in blobs)
                {
                    var answer = await _client.DeleteBlobAsync(repository, digest, cancellationToken);
                    if (answer.IsSuccess)
                    {
                        blobsDeleted++;
                    }
                    else
                    {
                        blobNote = $"; blob DELETE refused ({answer.Summary}), unreferenced blobs are left to the registry's garbage collection";
                        break;
                    }
                }

                blobNote = $" and {blobsDeleted} of {blobs.Count} blobs" + blobNote;
            }

            var leftBehind = await StillThereAsync(manifests, deleted, tryDelete: refusal is null, cancellationToken);
            CapabilityResult result;
            if (refusal is not null)
            {
                result = NotSupported(Name, refusal, $"{refusal}: {deleted.Count} of {manifests.Count} manifests deleted");
            }
            else if (leftBehind.Count > 0)
            {
                result = NotSupported(Name, null, $"every DELETE was accepted, but {leftBehind.Count} of the pushed references are still there");
            }
            else
            {
                result = Supported(Name, $"{deleted.Count} manifests{blobNote} deleted; none of the run's tags is left");
            }

            return (result, leftBehind);
        }

        /// <summary>Tags of earlier runs (the same prefix, another run id) in both repositories: left-overs to report.</summary>
        private async Task<List<string>> FindEarlierRunsAsync(CancellationToken cancellationToken)
        {
            var found = new List<string>();
            foreach (var repository in new[] { _target, _source })
            {
                var (_, tags) = await _client.ListTagsAsync(repository, cancellationToken);
                found.AddRange(tags.Where(t => t.StartsWith(TagPrefix, StringComparison.Ordinal) && !t.StartsWith(_tagPrefix, StringComparison.Ordinal))
                    .Order(StringComparer.Ordinal)
                    .Select(t => $"{repository.Name}:{t}"));
            }

            return found;
        }

        /// <summary>
        /// What the run pushed that the registry still holds: its tags as the tag lists show them, and manifests without
        /// a tag whose DELETE was refused. When <paramref name="tryDelete"/>, a tag still there is deleted first: a PUT
        /// cut short by a cancellation may have landed, and a registry may keep tags when their manifest goes.
        /// </summary>
        private async Task<List<string>> StillThereAsync(IReadOnlyList<Pushed> manifests, HashSet<(string, Digest)> deleted, bool tryDelete, CancellationToken cancellationToken)
        {
            var left = new List<string>();
            foreach (var repository in new[] { _target, _source })
            {
                var (answer, tags) = await _client.ListTagsAsync(repository, cancellationToken);
                var ours = answer.IsSuccess || answer.Status == (int)HttpStatusCode.NotFound
                    ? tags.Where(t => t.StartsWith(_tagPrefix, StringComparison.Ordinal)).Order(StringComparer.Ordinal).ToList()
                    : [.. _pushed.Where(p => p.Repository.Repository == repository.Repository && p.Tag is not null && !deleted.Contains((p.Repository.Repository, p.Content.Digest))).Select(p => p.Tag!)];
                foreach (var tag in ours)
                {
                    if (tryDelete && await DeleteTagAsync(repository.WithTag(tag), cancellationToken))
                    {
                        continue;
                    }

                    left.Add($"{repository.Name}:{tag}");
                }
            }

            left.AddRange(manifests
                .Where(m => !deleted.Contains((m.Repository.Repository, m.Content.Digest)) && !IsTagged(m))
                .Select(m => $"{m.Repository.Name}@{m.Content.Digest}"));
            return left;
        }

        /// <summary>Deletes what a tag points at (by digest), else the tag itself (OCI 1.1); true when it is gone.</summary>
        private async Task<bool> DeleteTagAsync(ImageReference tag, CancellationToken cancellationToken)
        {
            try
            {
                if (await _client.HeadManifestAsync(tag, cancellationToken) is not { } head)
                {
                    return true;
                }

                if ((await _client.DeleteReferenceAsync(tag.WithDigest(head.Digest), cancellationToken)).IsSuccess)
                {
                    return true;
                }
            }
            catch (MultiArchException ex) when (Failure(ex) is not null)
            {
                // Try the tag itself.
            }

            return (await _client.DeleteReferenceAsync(tag, cancellationToken)).IsSuccess;
        }

        /// <summary>Every tag and untagged manifest the run pushed (when nothing was deleted).</summary>
        private List<string> PushedReferences(IReadOnlyList<Pushed> manifests) =>
        [
            .. _pushed.Where(p => p.Tag is not null).Select(p => $"{p.Repository.Name}:{p.Tag}").Distinct(StringComparer.Ordinal),
            .. manifests.Where(m => !IsTagged(m)).Select(m => $"{m.Repository.Name}@{m.Content.Digest}"),
        ];

        private bool IsTagged(Pushed manifest) =>
            _pushed.Any(p => p.Tag is not null && p.Content.Digest == manifest.Content.Digest && p.Repository.Repository == manifest.Repository.Repository);
    }
}
