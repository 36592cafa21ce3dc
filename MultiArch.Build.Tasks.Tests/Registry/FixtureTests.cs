using System.Net;
using System.Net.Http.Headers;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using MultiArch.Build.Tasks.Oci;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Proves the real-registry harness works: registries in every mode, the token server, the image maker and the skopeo
/// pusher. Each push is read back twice (skopeo and plain HTTP) and must give exactly our bytes and digest.
/// </summary>
[TestClass]
public sealed class FixtureTests
{
    private readonly List<(RegistryServer Registry, string Repository)> _used = [];

    public TestContext TestContext { get; set; } = null!;

    [TestCleanup]
    public void DumpRegistryLogOnFailure()
    {
        if (TestContext.CurrentTestOutcome == UnitTestOutcome.Passed)
        {
            return;
        }

        foreach (var (registry, repository) in _used)
        {
            TestContext.WriteLine($"--- {registry} log lines for {repository} ---");
            TestContext.WriteLine(registry.LogLinesContaining(repository));
        }
    }

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Tls)]
    [DataRow(RegistryMode.Token)]
    public async Task PushedOciImageReadsBackByteForByte(RegistryMode mode)
    {
        var registry = await TestRegistries.Get(mode);
        var repository = Use(registry, "oci-image");
        var image = TestImages.Image(TestImages.LinuxAmd64, seed: repository);

        var digest = await SkopeoPusher.PushAsync(registry, repository, "v1", image, TestContext.CancellationToken);

        Assert.AreEqual(image.Digest, digest);
        await AssertManifestAsync(registry, repository, "v1", image.Manifest, image.MediaType);
        await AssertManifestAsync(registry, repository, image.Digest.ToString(), image.Manifest, image.MediaType);
        await AssertBlobAsync(registry, repository, image.ConfigDigest, image.Config);
        await AssertBlobAsync(registry, repository, image.Layers[0].Digest, image.Layers[0].Bytes);
    }

    private string Use(RegistryServer registry, string prefix)
    {
        var repository = TestNames.Repository(prefix);
        _used.Add((registry, repository));
        return repository;
    }

    /// <summary>Reads the manifest back with <c>skopeo inspect --raw</c> and with a plain GET, and compares bytes, digest and content type.</summary>
    private async Task AssertManifestAsync(RegistryServer registry, string repository, string reference, byte[] expected, string mediaType)
    {
        var viaSkopeo = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, reference), cancellationToken: TestContext.CancellationToken);
        CollectionAssert.AreEqual(expected, viaSkopeo, $"skopeo inspect --raw {reference}");

        using var client = registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/manifests/{reference}");
        request.Headers.Authorization = await registry.GetAuthorizationAsync(repository, cancellationToken: TestContext.CancellationToken);
        foreach (var accept in MediaTypes.ManifestAccept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        }

        using var response = await client.SendAsync(request, TestContext.CancellationToken);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        var body = await response.Content.ReadAsByteArrayAsync(TestContext.CancellationToken);
        CollectionAssert.AreEqual(expected, body, $"GET manifests/{reference}");
        Assert.AreEqual(Digest.FromContent(expected).ToString(), response.Headers.GetValues("Docker-Content-Digest").Single());
        Assert.AreEqual(mediaType, response.Content.Headers.ContentType?.MediaType);
    }

    private async Task AssertBlobAsync(RegistryServer registry, string repository, Digest digest, byte[] expected)
    {
        using var client = registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/blobs/{digest}");
        request.Headers.Authorization = await registry.GetAuthorizationAsync(repository, cancellationToken: TestContext.CancellationToken);
        using var response = await client.SendAsync(request, TestContext.CancellationToken);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        CollectionAssert.AreEqual(expected, await response.Content.ReadAsByteArrayAsync(TestContext.CancellationToken), $"GET blobs/{digest}");
    }
}
