using System.Collections.Immutable;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Publishing;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Specs;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>One entry of a pushed index, read with System.Text.Json (not the product's parser).</summary>
internal sealed record IndexEntry(string MediaType, string Digest, long Size, string? Platform, string? OsVersion, IReadOnlyList<string> OsFeatures, IReadOnlyDictionary<string, string> Annotations)
{
    public bool IsAttestation => Annotations.TryGetValue("vnd.docker.reference.type", out var type) && type == "attestation-manifest";
}

/// <summary>A pushed index or manifest list as an independent reader sees it.</summary>
internal sealed record IndexView(string? MediaType, IReadOnlyList<IndexEntry> Entries, IReadOnlyDictionary<string, string> Annotations)
{
    /// <summary>The entries' platforms, <c>os/arch[/variant]</c>, in order (attestations included, as <c>unknown/unknown</c>).</summary>
    public IReadOnlyList<string?> Platforms => [.. Entries.Select(e => e.Platform)];

    public static IndexView Parse(byte[] bytes)
    {
        using var document = JsonDocument.Parse(bytes);
        var root = document.RootElement;
        Assert.AreEqual(2, root.GetProperty("schemaVersion").GetInt32());
        var entries = root.GetProperty("manifests").EnumerateArray().Select(m =>
        {
            string? platform = null;
            string? osVersion = null;
            List<string> osFeatures = [];
            if (m.TryGetProperty("platform", out var p))
            {
                platform = p.GetProperty("os").GetString() + "/" + p.GetProperty("architecture").GetString() +
                    (p.TryGetProperty("variant", out var v) ? "/" + v.GetString() : string.Empty);
                osVersion = p.TryGetProperty("os.version", out var ov) ? ov.GetString() : null;
                osFeatures = p.TryGetProperty("os.features", out var of) ? [.. of.EnumerateArray().Select(f => f.GetString()!)] : [];
            }

            return new IndexEntry(m.GetProperty("mediaType").GetString()!, m.GetProperty("digest").GetString()!, m.GetProperty("size").GetInt64(), platform, osVersion, osFeatures, Map(m));
        }).ToList();
        return new IndexView(root.TryGetProperty("mediaType", out var type) ? type.GetString() : null, entries, Map(root));
    }

    private static Dictionary<string, string> Map(JsonElement element) =>
        element.TryGetProperty("annotations", out var annotations)
            ? annotations.EnumerateObject().ToDictionary(a => a.Name, a => a.Value.GetString()!, StringComparer.Ordinal)
            : new Dictionary<string, string>(StringComparer.Ordinal);
}

/// <summary>Seeding, running the publisher and reading results, shared by the push tests.</summary>
internal static class PushTestKit
{
    /// <summary>
    /// Pushes images and indexes with skopeo, side by side, except that an item waits for the earlier items it shares a
    /// blob with: distribution 2.8 answers 500 when two uploads of one blob race ("failed to read from destination
    /// repository").
    /// </summary>
    public static async Task SeedAsync(RegistryServer server, CancellationToken cancellationToken, params (string Repository, string Tag, object Content)[] items)
    {
        var started = new List<(HashSet<Digest> Blobs, Task Push)>();
        foreach (var (repository, tag, content) in items)
        {
            var blobs = content switch
            {
                TestImage image => image.Blobs.Select(b => b.Digest).ToHashSet(),
                TestIndex index => index.Manifests.SelectMany(m => m.Blobs).Select(b => b.Digest).ToHashSet(),
                _ => throw new ArgumentException($"Cannot seed a {content.GetType().Name}.", nameof(items)),
            };
            var before = started.Where(s => s.Blobs.Overlaps(blobs)).Select(s => s.Push).ToList();
            started.Add((blobs, PushAfterAsync(before, server, repository, tag, content, cancellationToken)));
        }

        await Task.WhenAll(started.Select(s => s.Push));
    }

    private static async Task PushAfterAsync(List<Task> before, RegistryServer server, string repository, string tag, object content, CancellationToken cancellationToken)
    {
        await Task.WhenAll(before);
        await (content is TestImage image
            ? SkopeoPusher.PushAsync(server, repository, tag, image, cancellationToken)
            : SkopeoPusher.PushAsync(server, repository, tag, (TestIndex)content, cancellationToken));
    }

    /// <summary>
    /// Pushes images straight to the registry with the product's client, side by side (no skopeo process: for tests
    /// that need many images quickly): blobs, then the manifest under the tag, or by digest when the tag is null.
    /// The images must not share blobs (two uploads of one blob race in distribution 2.8).
    /// </summary>
    public static async Task SeedDirectAsync(RegistryServer server, CancellationToken cancellationToken, params (string Repository, string? Tag, TestImage Image)[] items)
    {
        using var client = TestClients.Client(server);
        await Task.WhenAll(items.Select(async item =>
        {
            var repository = ImageReference.Parse(server.Reference(item.Repository, item.Image.Digest.ToString()));
            await Task.WhenAll(item.Image.Blobs.Select(b => client.UploadBlobAsync(repository, b.Bytes, cancellationToken)));
            var target = item.Tag is null ? repository : repository.WithTag(item.Tag);
            await client.PutManifestAsync(target, ManifestContent.Parse(item.Image.Manifest, item.Image.MediaType, target.ToString()), cancellationToken);
        }));
    }

    /// <summary>An index and its images, straight to the registry: the images by digest, then the index under <paramref name="tag"/>.</summary>
    public static async Task SeedDirectAsync(RegistryServer server, string repository, string tag, TestIndex index, CancellationToken cancellationToken)
    {
        await SeedDirectAsync(server, cancellationToken, [.. index.Manifests.Select(m => (repository, (string?)null, m))]);
        using var client = TestClients.Client(server);
        var target = ImageReference.Parse(server.Reference(repository, tag));
        await client.PutManifestAsync(target, ManifestContent.Parse(index.Bytes, index.MediaType, target.ToString()), cancellationToken);
    }

    /// <summary>A push request from spec text (the most readable way to say what to push).</summary>
    public static PushRequest FromSpec(string yaml, string? format = null) => PushRequestBuilder.FromSpec(ManifestSpecReader.ReadText(yaml, "spec.yaml"), format);

    /// <summary>Runs the publisher with the environment a build would have (<paramref name="environment"/>), logging to <paramref name="log"/>.</summary>
    public static async Task<PushResult> PushAsync(
        IReadOnlyDictionary<string, string?> environment, PushRequest request, RecordingLog log, CancellationToken cancellationToken,
        Func<RegistrySettings, RegistrySettings>? configure = null, RegistryServer? tlsServer = null)
    {
        var settings = RegistrySettings.FromEnvironment(TestClients.Lookup(environment), log);
        if (tlsServer is not null)
        {
            settings = settings with { TransportFactory = tlsServer.CreateTrustingHandler };
        }

        using var client = new RegistryClient(configure?.Invoke(settings) ?? settings);
        return await new ManifestListPublisher(client, log).PushAsync(request, cancellationToken);
    }

    /// <summary>Runs the publisher expecting a coded failure; returns the exception.</summary>
    public static async Task<MultiArchException> PushFailsAsync(
        IReadOnlyDictionary<string, string?> environment, PushRequest request, RecordingLog log, CancellationToken cancellationToken,
        Func<RegistrySettings, RegistrySettings>? configure = null) =>
        await Assert.ThrowsAsync<MultiArchException>(() => PushAsync(environment, request, log, cancellationToken, configure));

    /// <summary>The exchanges that changed (or tried to change) the registry: POST, PUT, PATCH, DELETE.</summary>
    public static IReadOnlyList<ProxyExchange> Writes(this FaultProxy proxy, int since = 0) =>
        [.. proxy.Exchanges.Where(e => e.Sequence >= since && e.Request.IsWrite)];

    /// <summary>A request count line for the report: totals per method and kind.</summary>
    public static string Counts(this FaultProxy proxy, int since = 0)
    {
        var exchanges = proxy.Exchanges.Where(e => e.Sequence >= since).ToList();
        var groups = exchanges
            .GroupBy(e => $"{e.Method} {(e.Request.IsMount ? "mount" : e.Request.IsUpload ? "upload" : e.Request.IsManifest ? "manifest" : e.Request.IsBlob ? "blob" : "other")}{(e.Status == 401 ? " 401" : string.Empty)}")
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .Select(g => $"{g.Key} x{g.Count()}");
        return $"{exchanges.Count} requests: " + string.Join(", ", groups);
    }

    /// <summary>An empty annotation map.</summary>
    public static ImmutableSortedDictionary<string, string> NoAnnotations => ImmutableSortedDictionary.Create<string, string>(StringComparer.Ordinal);
}
