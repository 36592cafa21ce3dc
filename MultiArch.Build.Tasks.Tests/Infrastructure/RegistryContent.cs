using System.Net;
using System.Net.Http.Headers;
using MultiArch.Build.Tasks.Oci;

namespace MultiArch.Build.Tasks.Tests.Infrastructure;

/// <summary>A manifest as a registry serves it.</summary>
internal sealed record ServedManifest(byte[] Bytes, string? ContentType, string? DigestHeader)
{
    public Digest Digest => Digest.FromContent(Bytes);

    public string Text => System.Text.Encoding.UTF8.GetString(Bytes);
}

/// <summary>
/// Reads what a test registry holds over plain HTTP (not through the product's client), with the registry's own
/// credentials: the independent side of every "what did the push leave in the registry" assertion.
/// </summary>
internal static class RegistryContent
{
    private static readonly string[] s_accept =
    [
        MediaTypes.OciIndex, MediaTypes.DockerManifestList, MediaTypes.OciManifest, MediaTypes.DockerManifest,
    ];

    /// <summary>GET a manifest by tag or digest; null on 404.</summary>
    public static async Task<ServedManifest?> GetManifestAsync(RegistryServer server, string repository, string reference, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(server, HttpMethod.Get, repository, $"manifests/{reference}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        var digest = response.Headers.TryGetValues("Docker-Content-Digest", out var values) ? values.FirstOrDefault() : null;
        return new ServedManifest(await response.Content.ReadAsByteArrayAsync(cancellationToken), response.Content.Headers.ContentType?.MediaType, digest);
    }

    /// <summary>The digest a tag (or digest) resolves to, from a HEAD; null on 404.</summary>
    public static async Task<string?> ResolveAsync(RegistryServer server, string repository, string reference, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(server, HttpMethod.Head, repository, $"manifests/{reference}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return response.Headers.GetValues("Docker-Content-Digest").Single();
    }

    /// <summary>GET a blob; null on 404.</summary>
    public static async Task<byte[]?> GetBlobAsync(RegistryServer server, string repository, Digest digest, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(server, HttpMethod.Get, repository, $"blobs/{digest}", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        response.EnsureSuccessStatusCode();
        return await response.Content.ReadAsByteArrayAsync(cancellationToken);
    }

    /// <summary>The tags of a repository (empty when it does not exist).</summary>
    public static async Task<IReadOnlyList<string>> TagsAsync(RegistryServer server, string repository, CancellationToken cancellationToken = default)
    {
        using var response = await SendAsync(server, HttpMethod.Get, repository, "tags/list", cancellationToken);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return [];
        }

        response.EnsureSuccessStatusCode();
        using var document = System.Text.Json.JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync(cancellationToken));
        return document.RootElement.TryGetProperty("tags", out var tags) && tags.ValueKind == System.Text.Json.JsonValueKind.Array
            ? [.. tags.EnumerateArray().Select(t => t.GetString()!).Order(StringComparer.Ordinal)]
            : [];
    }

    private static async Task<HttpResponseMessage> SendAsync(RegistryServer server, HttpMethod method, string repository, string path, CancellationToken cancellationToken)
    {
        using var client = server.CreateHttpClient();
        using var request = new HttpRequestMessage(method, $"v2/{repository}/{path}");
        foreach (var type in s_accept)
        {
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(type));
        }

        request.Headers.Authorization = await server.GetAuthorizationAsync(repository, "pull", cancellationToken);
        return await client.SendAsync(request, cancellationToken);
    }
}
