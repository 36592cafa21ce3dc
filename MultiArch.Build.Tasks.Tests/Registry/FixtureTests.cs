using System.Formats.Tar;
using System.IO.Compression;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
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

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestCleanup]
    public void DumpRegistryLogOnFailure()
    {
        if (TestContext.CurrentTestOutcome == UnitTestOutcome.Passed)
        {
            return;
        }

        foreach (var (registry, repository) in _used)
        {
            TestContext.WriteLine($"--- {registry}: log lines for {repository} ---");
            TestContext.WriteLine(registry.LogLinesContaining(repository));
        }
    }

    // ---- pushing and reading back, in every mode ----

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Tls)]
    [DataRow(RegistryMode.Token)]
    public async Task OciImage_PushedBySkopeo_ReadsBackByteForByte(RegistryMode mode)
    {
        var registry = await TestRegistries.Get(mode);
        var repository = Use(registry, "oci-image");
        var image = TestImages.Image(TestImages.LinuxAmd64, seed: repository);

        var digest = await SkopeoPusher.PushAsync(registry, repository, "v1", image, Cancel);

        Assert.AreEqual(image.Digest, digest);
        await AssertManifestAsync(registry, repository, "v1", image.Manifest, image.MediaType, viaSkopeo: true);
        await AssertManifestAsync(registry, repository, image.Digest.ToString(), image.Manifest, image.MediaType, viaSkopeo: false);
        await AssertBlobAsync(registry, repository, image.ConfigDigest, image.Config);
        await AssertBlobAsync(registry, repository, image.Layers[0].Digest, image.Layers[0].Bytes);
    }

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Tls)]
    [DataRow(RegistryMode.Token)]
    public async Task DockerImage_PushedBySkopeo_ArrivesUnconverted(RegistryMode mode)
    {
        var registry = await TestRegistries.Get(mode);
        var repository = Use(registry, "docker-image");
        var image = TestImages.Image(TestImages.LinuxArm64, seed: repository, ImageFormat.Docker);
        Assert.AreEqual(MediaTypes.DockerManifest, image.MediaType);

        await SkopeoPusher.PushAsync(registry, repository, "v1", image, Cancel);

        await AssertManifestAsync(registry, repository, "v1", image.Manifest, MediaTypes.DockerManifest, viaSkopeo: true);
        await AssertBlobAsync(registry, repository, image.ConfigDigest, image.Config);
    }

    [TestMethod]
    [DataRow(RegistryMode.Open)]
    [DataRow(RegistryMode.Basic)]
    [DataRow(RegistryMode.Tls)]
    [DataRow(RegistryMode.Token)]
    public async Task OciIndexWithAttestation_PushedBySkopeo_KeepsEveryManifest(RegistryMode mode)
    {
        var registry = await TestRegistries.Get(mode);
        var repository = Use(registry, "oci-index");
        var index = TestImages.Index(TestImages.AllPlatforms, seed: repository, withAttestation: true);

        var digest = await SkopeoPusher.PushAsync(registry, repository, "multi", index, Cancel);

        Assert.AreEqual(index.Digest, digest);
        await AssertManifestAsync(registry, repository, "multi", index.Bytes, MediaTypes.OciIndex, viaSkopeo: true);
        foreach (var child in index.Manifests)
        {
            await AssertManifestAsync(registry, repository, child.Digest.ToString(), child.Manifest, child.MediaType, viaSkopeo: false);
        }

        await AssertBlobAsync(registry, repository, index.Attestation!.Layers[0].Digest, index.Attestation.Layers[0].Bytes);
    }

    [TestMethod]
    public async Task DockerManifestList_PushedBySkopeo_ArrivesUnconverted()
    {
        var registry = await TestRegistries.Open;
        var repository = Use(registry, "docker-list");
        var index = TestImages.Index(TestImages.LinuxPlatforms, seed: repository, ImageFormat.Docker);

        await SkopeoPusher.PushAsync(registry, repository, "multi", index, Cancel);

        await AssertManifestAsync(registry, repository, "multi", index.Bytes, MediaTypes.DockerManifestList, viaSkopeo: true);
        foreach (var image in index.Images)
        {
            await AssertManifestAsync(registry, repository, image.Digest.ToString(), image.Manifest, MediaTypes.DockerManifest, viaSkopeo: false);
        }
    }

    [TestMethod]
    public async Task SkopeoFailure_ThrowsWithItsStderr()
    {
        var registry = await TestRegistries.Open;
        var repository = Use(registry, "missing");

        var error = await Assert.ThrowsExactlyAsync<InvalidOperationException>(
            () => SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, "nope"), cancellationToken: Cancel));

        StringAssert.Contains(error.Message, "manifest unknown");
    }

    [TestMethod]
    public async Task ReferencesAndRepositoryNames_AreValidAndUnique()
    {
        var registry = await TestRegistries.Open;
        var names = Enumerable.Range(0, 50).Select(_ => TestNames.Repository("Some Prefix_With/Odd--chars")).ToList();

        Assert.AreEqual(names.Count, names.Distinct(StringComparer.Ordinal).Count());
        foreach (var name in names)
        {
            var reference = ImageReference.Parse(registry.Reference(name, "v1"));
            Assert.AreEqual(registry.Host, reference.Registry);
            Assert.AreEqual(name, reference.Repository);
        }

        StringAssert.StartsWith(names[0], "test/some-prefix-with-odd-chars-");
        Assert.AreEqual($"{registry.Host}/a/b@{Digest.FromContent([1])}", registry.Reference("a/b", Digest.FromContent([1]).ToString()));
    }

    [TestMethod]
    public async Task RegistryThatCannotStart_ThrowsWithItsLog()
    {
        var options = new RegistryOptions(RegistryMode.Open)
        {
            Environment = new Dictionary<string, string?>
            {
                ["REGISTRY_HTTP_TLS_CERTIFICATE"] = "/nonexistent/multiarch-server.crt",
                ["REGISTRY_HTTP_TLS_KEY"] = "/nonexistent/multiarch-server.key",
            },
        };

        var error = await Assert.ThrowsExactlyAsync<InvalidOperationException>(() => RegistryServer.StartAsync(options, Cancel));

        StringAssert.Contains(error.Message, "exited with code");
        StringAssert.Contains(error.Message, "Registry log:");
        StringAssert.Contains(error.Message, "/nonexistent/multiarch-server.crt");
    }

    [TestMethod]
    public void ChildEnvironment_LosesInheritedRegistryVariables()
    {
        var startInfo = new System.Diagnostics.ProcessStartInfo("true");
        startInfo.Environment["REGISTRY_AUTH_TOKEN_REALM"] = "http://elsewhere/token";
        startInfo.Environment["registry_http_addr"] = "0.0.0.0:5000";
        startInfo.Environment["KEEP_ME"] = "1";

        ProcessRunner.ApplyEnvironment(startInfo, new Dictionary<string, string?> { ["REGISTRY_LOG_LEVEL"] = "debug", ["KEEP_ME"] = null });

        CollectionAssert.AreEqual(
            new[] { "REGISTRY_LOG_LEVEL=debug" },
            startInfo.Environment.Where(e => e.Key.StartsWith("REGISTRY_", StringComparison.OrdinalIgnoreCase) || e.Key == "KEEP_ME").Select(e => $"{e.Key}={e.Value}").ToArray());
    }

    // ---- deletes ----

    [TestMethod]
    [DataRow(true, HttpStatusCode.Accepted)]
    [DataRow(false, HttpStatusCode.MethodNotAllowed)]
    public async Task ManifestDelete_FollowsDeleteEnabled(bool deleteEnabled, HttpStatusCode expected)
    {
        var registry = deleteEnabled ? await TestRegistries.Open : await TestRegistries.OpenNoDelete;
        Assert.AreEqual(deleteEnabled, registry.Options.DeleteEnabled);
        var repository = Use(registry, "delete");
        var image = TestImages.Image(TestImages.LinuxArmV7, seed: repository);
        await SkopeoPusher.PushAsync(registry, repository, "v1", image, Cancel);

        using var client = registry.CreateHttpClient();
        using var response = await client.DeleteAsync($"v2/{repository}/manifests/{image.Digest}", Cancel);

        Assert.AreEqual(expected, response.StatusCode);
    }

    // ---- basic auth ----

    [TestMethod]
    public async Task Basic_RejectsAnonymousAndWrongPassword()
    {
        var registry = await TestRegistries.Basic;
        using var client = registry.CreateHttpClient();

        using var anonymous = await client.GetAsync("v2/", Cancel);
        Assert.AreEqual(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.AreEqual("Basic realm=\"multiarch-test\"", anonymous.Headers.WwwAuthenticate.Single().ToString());

        using var wrong = new HttpRequestMessage(HttpMethod.Get, "v2/");
        wrong.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{registry.Username}:wrong")));
        using var wrongResponse = await client.SendAsync(wrong, Cancel);
        Assert.AreEqual(HttpStatusCode.Unauthorized, wrongResponse.StatusCode);

        using var right = new HttpRequestMessage(HttpMethod.Get, "v2/");
        right.Headers.Authorization = await registry.GetAuthorizationAsync("any", cancellationToken: Cancel);
        using var rightResponse = await client.SendAsync(right, Cancel);
        Assert.AreEqual(HttpStatusCode.OK, rightResponse.StatusCode);
    }

    // ---- TLS ----

    [TestMethod]
    public async Task Tls_DefaultClientRejectsTheTestCa_TrustingHandlerAcceptsIt()
    {
        var registry = await TestRegistries.Tls;
        Assert.AreEqual("https", registry.BaseUri.Scheme);

        using var plain = new HttpClient();
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => plain.GetAsync(new Uri(registry.BaseUri, "v2/"), Cancel));
        Assert.IsInstanceOfType<AuthenticationException>(error.InnerException);

        using var trusting = registry.CreateHttpClient();
        using var response = await trusting.GetAsync("v2/", Cancel);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);

        var pem = await File.ReadAllTextAsync(registry.CaPemPath!, Cancel);
        StringAssert.StartsWith(pem, "-----BEGIN CERTIFICATE-----");
        Assert.AreEqual(pem, await File.ReadAllTextAsync(Path.Combine(registry.CertDir!, "ca.crt"), Cancel));
    }

    [TestMethod]
    public async Task Tls_TrustingHandlerStillRejectsNameMismatch()
    {
        var registry = await TestRegistries.Tls;
        var handler = (SocketsHttpHandler)registry.CreateTrustingHandler();
        handler.ConnectCallback = async (_, cancellationToken) =>
        {
            // Whatever the URL says, connect to the registry: only the name checked against the certificate differs.
            var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            await socket.ConnectAsync(IPAddress.Loopback, registry.Port, cancellationToken);
            return new NetworkStream(socket, ownsSocket: true);
        };
        using var client = new HttpClient(handler);

        using var good = await client.GetAsync(new Uri($"https://localhost:{registry.Port}/v2/"), Cancel);
        Assert.AreEqual(HttpStatusCode.OK, good.StatusCode);
        var error = await Assert.ThrowsAsync<HttpRequestException>(() => client.GetAsync(new Uri($"https://not-in-the-san.test:{registry.Port}/v2/"), Cancel));
        Assert.IsInstanceOfType<AuthenticationException>(error.InnerException);
    }

    [TestMethod]
    public async Task Tls_SkopeoWithoutCertDirRejectsTheTestCa()
    {
        var registry = await TestRegistries.Tls;

        var result = await SkopeoPusher.RunAsync(["inspect", "--raw", "--tls-verify=true", "--no-creds", $"docker://{registry.Reference("any/repo", "v1")}"], Cancel);

        Assert.AreNotEqual(0, result.ExitCode);
        StringAssert.Contains(result.StandardError, "certificate signed by unknown authority");
    }

    // ---- token auth ----

    [TestMethod]
    public async Task Token_RegistryChallengesWithTheTokenServer()
    {
        var registry = await TestRegistries.Token;
        var tokens = registry.TokenServer!;
        using var client = registry.CreateHttpClient();

        using var response = await client.GetAsync("v2/", Cancel);

        Assert.AreEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.AreEqual($"Bearer realm=\"{tokens.Realm}\",service=\"{TokenServer.DefaultService}\"", response.Headers.WwwAuthenticate.Single().ToString());
        Assert.AreEqual("multiarch-test-registry", tokens.Service);
        Assert.AreEqual($"http://127.0.0.1:{tokens.Realm.Port}/token", tokens.Realm.ToString());
    }

    [TestMethod]
    public async Task Token_BadPasswordIsRefusedAndRecorded()
    {
        var registry = await TestRegistries.Token;
        var tokens = registry.TokenServer!;
        var repository = Use(registry, "bad-password");
        var scope = $"repository:{repository}:pull,push";

        var error = await Assert.ThrowsExactlyAsync<HttpRequestException>(() => tokens.GetTokenAsync([scope], registry.Username, "wrong", Cancel));

        Assert.AreEqual(HttpStatusCode.Unauthorized, error.StatusCode);
        StringAssert.Contains(error.Message, "\"code\":\"UNAUTHORIZED\"");
        var recorded = tokens.RequestsFor(repository).Single();
        Assert.AreEqual(401, recorded.Status);
        Assert.IsNull(recorded.User);
        Assert.AreEqual(registry.Username, recorded.AttemptedUser);
        CollectionAssert.AreEqual(new[] { scope }, recorded.Scopes.ToArray());
        Assert.AreEqual(1, tokens.CountRequests(scope));
    }

    [TestMethod]
    public async Task Token_JwtHasTheShapeDistributionNeeds()
    {
        var registry = await TestRegistries.Token;
        var repository = Use(registry, "jwt-shape");

        var jwt = await registry.TokenServer!.GetTokenAsync([$"repository:{repository}:pull,push", "registry:catalog:*"], registry.Username, registry.Password, Cancel);

        var (header, claims) = DecodeJwt(jwt);
        Assert.AreEqual("RS256", header.GetProperty("alg").GetString());
        Assert.AreEqual("JWT", header.GetProperty("typ").GetString());
        var x5c = header.GetProperty("x5c").EnumerateArray().Single().GetString()!;
        var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(Convert.FromBase64String(x5c));
        StringAssert.Contains(registry.TokenServer.SigningCertificatePem, Convert.ToBase64String(certificate.RawData)[..60]);
        Assert.AreEqual(JsonValueKind.String, claims.GetProperty("aud").ValueKind);
        Assert.AreEqual(TokenServer.DefaultService, claims.GetProperty("aud").GetString());
        Assert.AreEqual(TokenServer.DefaultIssuer, claims.GetProperty("iss").GetString());
        Assert.AreEqual(registry.Username, claims.GetProperty("sub").GetString());
        Assert.AreEqual(claims.GetProperty("iat").GetInt64() + 300, claims.GetProperty("exp").GetInt64());
        Assert.AreEqual(claims.GetProperty("iat").GetInt64() - 10, claims.GetProperty("nbf").GetInt64());
        Assert.AreEqual(32, claims.GetProperty("jti").GetString()!.Length);
        var access = claims.GetProperty("access").EnumerateArray().Select(a => $"{a.GetProperty("type").GetString()}:{a.GetProperty("name").GetString()}:{string.Join(',', a.GetProperty("actions").EnumerateArray().Select(x => x.GetString()))}").ToList();
        CollectionAssert.AreEqual(new[] { $"repository:{repository}:pull,push", "registry:catalog:*" }, access);
    }

    [TestMethod]
    public async Task Token_AnonymousGetsPullOnly_AndTheRegistryEnforcesIt()
    {
        var registry = await TestRegistries.Token;
        var tokens = registry.TokenServer!;
        var repository = Use(registry, "anonymous");
        var image = TestImages.Image(TestImages.LinuxAmd64, seed: repository);
        await SkopeoPusher.PushAsync(registry, repository, "v1", image, Cancel);

        var anonymousToken = await tokens.GetTokenAsync([$"repository:{repository}:pull,push,delete"], cancellationToken: Cancel);
        var access = DecodeJwt(anonymousToken).Claims.GetProperty("access").EnumerateArray().Single();
        CollectionAssert.AreEqual(new[] { "pull" }, access.GetProperty("actions").EnumerateArray().Select(a => a.GetString()).ToArray());

        using var client = registry.CreateHttpClient();
        using var pull = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/manifests/v1");
        pull.Headers.Authorization = new AuthenticationHeaderValue("Bearer", anonymousToken);
        pull.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(MediaTypes.OciManifest));
        using var pullResponse = await client.SendAsync(pull, Cancel);
        Assert.AreEqual(HttpStatusCode.OK, pullResponse.StatusCode);

        using var push = new HttpRequestMessage(HttpMethod.Post, $"v2/{repository}/blobs/uploads/");
        push.Headers.Authorization = new AuthenticationHeaderValue("Bearer", anonymousToken);
        using var pushResponse = await client.SendAsync(push, Cancel);
        Assert.AreEqual(HttpStatusCode.Unauthorized, pushResponse.StatusCode);
        StringAssert.Contains(pushResponse.Headers.WwwAuthenticate.Single().Parameter, "error=\"insufficient_scope\"");

        var anonymousPullViaSkopeo = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, "v1"), anonymous: true, Cancel);
        CollectionAssert.AreEqual(image.Manifest, anonymousPullViaSkopeo);
    }

    [TestMethod]
    public async Task Token_SkopeoPushIsRecordedPerScope()
    {
        var registry = await TestRegistries.Token;
        var tokens = registry.TokenServer!;
        var repository = Use(registry, "recorded");

        await SkopeoPusher.PushAsync(registry, repository, "v1", TestImages.Image(TestImages.WindowsAmd64, seed: repository), Cancel);

        var requests = tokens.RequestsFor(repository);
        Assert.IsNotEmpty(requests);
        Assert.IsTrue(requests.All(r => r.User == registry.Username && r.Status == 200), string.Join('\n', requests));
        Assert.IsGreaterThanOrEqualTo(1, tokens.CountRequests($"repository:{repository}:pull,push"), string.Join('\n', requests));
        Assert.AreEqual(tokens.CountRequests($"repository:{repository}:pull,push"), tokens.CountRequests($"repository:{repository}:push,pull"));
    }

    [TestMethod]
    public async Task Token_OAuthPasswordAndRefreshGrantsWork()
    {
        var registry = await TestRegistries.Token;
        var tokens = registry.TokenServer!;
        var repository = Use(registry, "oauth");
        using var http = new HttpClient();

        using var passwordGrant = await http.PostAsync(tokens.Realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "password",
            ["username"] = registry.Username!,
            ["password"] = registry.Password!,
            ["service"] = tokens.Service,
            ["scope"] = $"repository:{repository}:pull",
            ["access_type"] = "offline",
            ["client_id"] = "multiarch-tests",
        }), Cancel);
        Assert.AreEqual(HttpStatusCode.OK, passwordGrant.StatusCode);
        using var first = JsonDocument.Parse(await passwordGrant.Content.ReadAsStringAsync(Cancel));
        var refreshToken = first.RootElement.GetProperty("refresh_token").GetString()!;
        Assert.AreEqual(300, first.RootElement.GetProperty("expires_in").GetInt32());
        Assert.IsTrue(DateTimeOffset.TryParse(first.RootElement.GetProperty("issued_at").GetString(), out _));

        using var refreshGrant = await http.PostAsync(tokens.Realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = refreshToken,
            ["service"] = tokens.Service,
            ["scope"] = $"repository:{repository}:pull",
        }), Cancel);
        Assert.AreEqual(HttpStatusCode.OK, refreshGrant.StatusCode);
        using var second = JsonDocument.Parse(await refreshGrant.Content.ReadAsStringAsync(Cancel));
        Assert.AreEqual(registry.Username, DecodeJwt(second.RootElement.GetProperty("access_token").GetString()!).Claims.GetProperty("sub").GetString());

        using var badRefresh = await http.PostAsync(tokens.Realm, new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["grant_type"] = "refresh_token",
            ["refresh_token"] = "not-issued",
            ["service"] = tokens.Service,
            ["scope"] = $"repository:{repository}:pull",
        }), Cancel);
        Assert.AreEqual(HttpStatusCode.Unauthorized, badRefresh.StatusCode);
        CollectionAssert.AreEqual(new[] { 200, 200, 401 }, tokens.RequestsFor(repository).Select(r => r.Status).ToArray());
        Assert.IsTrue(tokens.RequestsFor(repository).All(r => r.Method == "POST"));
    }

    [TestMethod]
    public async Task TokenServer_HonoursItsOptions()
    {
        await using var tokens = await TokenServer.StartAsync(new TokenServerOptions
        {
            AllowAnonymousPull = false,
            TokenLifetime = TimeSpan.FromSeconds(90),
            Users = new Dictionary<string, string> { ["alice"] = "s3cret" },
        }, Cancel);

        var anonymous = DecodeJwt(await tokens.GetTokenAsync(["repository:a/b:pull"], cancellationToken: Cancel)).Claims;
        Assert.AreEqual(0, anonymous.GetProperty("access").GetArrayLength());
        Assert.AreEqual(string.Empty, anonymous.GetProperty("sub").GetString());
        Assert.AreEqual(anonymous.GetProperty("iat").GetInt64() + 90, anonymous.GetProperty("exp").GetInt64());

        var alice = DecodeJwt(await tokens.GetTokenAsync(["repository:a/b:pull,push,delete"], "alice", "s3cret", Cancel)).Claims;
        Assert.AreEqual("pull,push,delete", string.Join(',', alice.GetProperty("access")[0].GetProperty("actions").EnumerateArray().Select(a => a.GetString())));

        using var http = new HttpClient();
        using var wrongService = await http.GetAsync(new Uri(tokens.Realm, "?service=someone-else&scope=repository:a/b:pull"), Cancel);
        Assert.AreEqual(HttpStatusCode.BadRequest, wrongService.StatusCode);
        using var spaceSeparated = await http.GetAsync(new Uri(tokens.Realm, $"?service={tokens.Service}&scope=repository:a/b:pull%20repository:c/d:pull&account=bob"), Cancel);
        Assert.AreEqual(HttpStatusCode.OK, spaceSeparated.StatusCode);
        var last = tokens.Requests[^1];
        CollectionAssert.AreEqual(new[] { "repository:a/b:pull", "repository:c/d:pull" }, last.Scopes.ToArray());
        Assert.AreEqual("bob", last.AttemptedUser);
        Assert.IsNull(last.User);
        CollectionAssert.AreEqual(new[] { 200, 200, 400, 200 }, tokens.Requests.Select(r => r.Status).ToArray());
    }

    // ---- registry log ----

    [TestMethod]
    public async Task RegistryLog_RecordsRequestsAndTokenRejectionReasons()
    {
        var registry = await TestRegistries.Token;
        var repository = Use(registry, "log");
        var valid = await registry.TokenServer!.GetTokenAsync([$"repository:{repository}:pull"], registry.Username, registry.Password, Cancel);
        var other = await registry.TokenServer.GetTokenAsync([$"repository:{repository}:push"], registry.Username, registry.Password, Cancel);
        var forged = valid[..(valid.LastIndexOf('.') + 1)] + other[(other.LastIndexOf('.') + 1)..];

        using var client = registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/tags/list");
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", forged);
        using var response = await client.SendAsync(request, Cancel);

        Assert.AreEqual(HttpStatusCode.Unauthorized, response.StatusCode);
        StringAssert.Contains(response.Headers.WwwAuthenticate.Single().Parameter, "error=\"invalid_token\"");
        var log = await WaitForLogAsync(registry, repository, "verification error");
        StringAssert.Contains(log, $"/v2/{repository}/tags/list");
        StringAssert.Contains(registry.Log, "multiarch test fixture: starting docker-registry");
    }

    // ---- the image maker ----

    [TestMethod]
    public void TestImages_AreDeterministic()
    {
        var first = TestImages.Index(TestImages.AllPlatforms, seed: "same", withAttestation: true);
        var second = TestImages.Index(TestImages.AllPlatforms, seed: "same", withAttestation: true);

        CollectionAssert.AreEqual(first.Bytes, second.Bytes);
        foreach (var (a, b) in first.Manifests.Zip(second.Manifests))
        {
            CollectionAssert.AreEqual(a.Manifest, b.Manifest);
            CollectionAssert.AreEqual(a.Config, b.Config);
            CollectionAssert.AreEqual(a.Layers[0].Bytes, b.Layers[0].Bytes);
        }

        var gzip = first.Images[0].Layers[0].Bytes;
        CollectionAssert.AreEqual(new byte[] { 0x1f, 0x8b, 8, 0, 0, 0, 0, 0 }, gzip[..8], "gzip magic, deflate, no flags (no name), mtime 0");
        Assert.AreEqual(0xff, gzip[9], "OS unknown, as Go writes it");

        // Pinned: the uncompressed layer and the config never depend on the clock, the machine or the zlib version.
        Assert.AreEqual("sha256:2702b14f18dca56916c9f2dd76fb11e25810f592238a47b68581b3d214f6648f", Digest.FromContent(TestImages.LayerTar(TestImages.LinuxAmd64, "same")).ToString());
        Assert.AreEqual("sha256:a95df8dfa49845090782a1ecbad1c09cde9341d323289ab7c8ed07ed562f7d35", first.Images[0].ConfigDigest.ToString());
        Assert.AreNotEqual(first.Digest, TestImages.Index(TestImages.AllPlatforms, seed: "other", withAttestation: true).Digest);
        Assert.AreEqual(4, first.Images.Select(i => i.Layers[0].Digest).Distinct().Count(), "each platform has its own layer");
    }

    [TestMethod]
    public void TestImages_LayerIsAGzippedUstarWithOneFile()
    {
        var image = TestImages.Image(TestImages.LinuxArmV7, seed: "tar");

        using var gzip = new GZipStream(new MemoryStream(image.Layers[0].Bytes), CompressionMode.Decompress);
        using var tar = new MemoryStream();
        gzip.CopyTo(tar);
        CollectionAssert.AreEqual(TestImages.LayerTar(TestImages.LinuxArmV7, "tar"), tar.ToArray());
        Assert.AreEqual(0, tar.Length % 512);

        tar.Position = 0;
        using var reader = new TarReader(tar);
        var entry = (UstarTarEntry)reader.GetNextEntry()!;
        Assert.AreEqual("hello", entry.Name);
        Assert.AreEqual(TarEntryType.RegularFile, entry.EntryType);
        Assert.AreEqual(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead, entry.Mode);
        Assert.AreEqual(0, entry.Uid);
        Assert.AreEqual(0, entry.Gid);
        Assert.AreEqual(DateTimeOffset.UnixEpoch, entry.ModificationTime);
        using var content = new StreamReader(entry.DataStream!);
        Assert.AreEqual("hello from linux/arm/v7 (seed tar)\n", content.ReadToEnd());
        Assert.IsNull(reader.GetNextEntry());
    }

    [TestMethod]
    public void TestImages_WindowsConfigHasFixedKeyOrderAndPlatformFields()
    {
        var image = TestImages.Image(TestImages.WindowsAmd64, seed: "win", labels: new Dictionary<string, string> { ["b"] = "2", ["a"] = "1" });
        var tar = TestImages.LayerTar(TestImages.WindowsAmd64, "win");

        var expected = "{\"architecture\":\"amd64\",\"os\":\"windows\",\"os.version\":\"10.0.20348.2113\",\"os.features\":[\"win32k\"]," +
            "\"created\":\"2024-01-01T00:00:00Z\",\"config\":{\"Cmd\":[\"/hello\"],\"Labels\":{\"a\":\"1\",\"b\":\"2\"}}," +
            $"\"rootfs\":{{\"type\":\"layers\",\"diff_ids\":[\"{Digest.FromContent(tar)}\"]}}}}";
        Assert.AreEqual(expected, Encoding.UTF8.GetString(image.Config));
        var config = ImageConfig.Parse(image.Config, "test");
        Assert.AreEqual(TestImages.WindowsAmd64, config.Platform);
        Assert.AreEqual(image.ConfigDigest, Digest.FromContent(image.Config));
    }

    [TestMethod]
    [DataRow(ImageFormat.Oci, MediaTypes.OciManifest, MediaTypes.OciConfig, MediaTypes.OciLayer)]
    [DataRow(ImageFormat.Docker, MediaTypes.DockerManifest, MediaTypes.DockerConfig, MediaTypes.DockerLayer)]
    public void TestImages_ManifestDescribesItsBlobs(ImageFormat format, string manifestType, string configType, string layerType)
    {
        var image = TestImages.Image(TestImages.LinuxAmd64, seed: "m", format);

        var manifest = (ImageManifest)ManifestContent.Parse(image.Manifest, null, "test");

        Assert.AreEqual(manifestType, manifest.MediaType);
        Assert.AreEqual(image.Digest, manifest.Digest);
        Assert.AreEqual((configType, image.ConfigDigest, image.Config.Length), (manifest.Config.MediaType, manifest.Config.Digest, manifest.Config.Size));
        var layer = manifest.Layers.Single();
        Assert.AreEqual((layerType, image.Layers[0].Digest, image.Layers[0].Size), (layer.MediaType, layer.Digest, layer.Size));
        StringAssert.StartsWith(Encoding.UTF8.GetString(image.Manifest), $"{{\"schemaVersion\":2,\"mediaType\":\"{manifestType}\",\"config\":");
    }

    [TestMethod]
    [DataRow(ImageFormat.Oci)]
    [DataRow(ImageFormat.Docker)]
    public void TestImages_IndexListsPlatformsAndTheAttestation(ImageFormat format)
    {
        var index = TestImages.Index(TestImages.AllPlatforms, seed: "i", format, withAttestation: true);

        var parsed = (ImageIndex)ManifestContent.Parse(index.Bytes, null, "test");

        Assert.AreEqual(format == ImageFormat.Docker ? MediaTypes.DockerManifestList : MediaTypes.OciIndex, parsed.MediaType);
        Assert.AreEqual(index.Digest, parsed.Digest);
        Assert.HasCount(5, parsed.Manifests);
        for (var i = 0; i < 4; i++)
        {
            Assert.AreEqual(TestImages.AllPlatforms[i], parsed.Manifests[i].Platform);
            Assert.AreEqual(index.Images[i].Digest, parsed.Manifests[i].Digest);
            Assert.AreEqual(index.Images[i].Size, parsed.Manifests[i].Size);
            Assert.IsFalse(parsed.Manifests[i].IsAttestation);
        }

        var attestationEntry = parsed.Manifests[4];
        Assert.IsTrue(attestationEntry.IsAttestation);
        Assert.AreEqual(index.Images[0].Digest.ToString(), attestationEntry.AttestationSubject);
        Assert.AreEqual(TestImages.Unknown, attestationEntry.Platform);
        Assert.AreEqual(MediaTypes.OciManifest, attestationEntry.MediaType);

        var attestation = (ImageManifest)ManifestContent.Parse(index.Attestation!.Manifest, null, "test");
        var layer = attestation.Layers.Single();
        Assert.AreEqual(TestImages.InTotoMediaType, layer.MediaType);
        Assert.AreEqual(TestImages.SpdxPredicateType, layer.Annotations[TestImages.InTotoPredicateTypeAnnotation]);
        Assert.AreEqual(TestImages.Unknown, ImageConfig.Parse(index.Attestation.Config, "test").Platform);
        using var statement = JsonDocument.Parse(index.Attestation.Layers[0].Bytes);
        Assert.AreEqual(index.Images[0].Digest.Hex, statement.RootElement.GetProperty("subject")[0].GetProperty("digest").GetProperty("sha256").GetString());
    }

    // ---- helpers ----

    private string Use(RegistryServer registry, string prefix)
    {
        var repository = TestNames.Repository(prefix);
        _used.Add((registry, repository));
        return repository;
    }

    /// <summary>
    /// Reads a manifest back with a plain GET (and HEAD), and optionally with <c>skopeo inspect --raw</c>; bytes,
    /// <c>Docker-Content-Digest</c> and content type must be ours.
    /// </summary>
    private async Task AssertManifestAsync(RegistryServer registry, string repository, string reference, byte[] expected, string mediaType, bool viaSkopeo)
    {
        var digest = Digest.FromContent(expected).ToString();
        if (viaSkopeo)
        {
            var raw = await SkopeoPusher.SkopeoInspectRawAsync(registry, registry.Reference(repository, reference), cancellationToken: Cancel);
            CollectionAssert.AreEqual(expected, raw, $"skopeo inspect --raw {reference}");
        }

        using var client = registry.CreateHttpClient();
        var authorization = await registry.GetAuthorizationAsync(repository, cancellationToken: Cancel);
        foreach (var method in new[] { HttpMethod.Head, HttpMethod.Get })
        {
            using var request = new HttpRequestMessage(method, $"v2/{repository}/manifests/{reference}");
            request.Headers.Authorization = authorization;
            foreach (var accept in MediaTypes.ManifestAccept)
            {
                request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            }

            using var response = await client.SendAsync(request, Cancel);
            Assert.AreEqual(HttpStatusCode.OK, response.StatusCode, $"{method} manifests/{reference}");
            Assert.AreEqual(digest, response.Headers.GetValues("Docker-Content-Digest").Single(), $"{method} manifests/{reference}");
            Assert.AreEqual(mediaType, response.Content.Headers.ContentType?.MediaType, $"{method} manifests/{reference}");
            if (method == HttpMethod.Get)
            {
                CollectionAssert.AreEqual(expected, await response.Content.ReadAsByteArrayAsync(Cancel), $"GET manifests/{reference}");
            }
        }
    }

    private async Task AssertBlobAsync(RegistryServer registry, string repository, Digest digest, byte[] expected)
    {
        using var client = registry.CreateHttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, $"v2/{repository}/blobs/{digest}");
        request.Headers.Authorization = await registry.GetAuthorizationAsync(repository, cancellationToken: Cancel);
        using var response = await client.SendAsync(request, Cancel);
        Assert.AreEqual(HttpStatusCode.OK, response.StatusCode);
        CollectionAssert.AreEqual(expected, await response.Content.ReadAsByteArrayAsync(Cancel), $"GET blobs/{digest}");
    }

    /// <summary>The registry writes its log asynchronously: wait briefly until a line about <paramref name="repository"/> contains <paramref name="text"/>.</summary>
    private async Task<string> WaitForLogAsync(RegistryServer registry, string repository, string text)
    {
        for (var i = 0; i < 50; i++)
        {
            var lines = registry.LogLinesContaining(repository);
            if (lines.Contains(text, StringComparison.Ordinal))
            {
                return lines;
            }

            await Task.Delay(100, Cancel);
        }

        Assert.Fail($"The registry log has no line about {repository} containing '{text}'. Lines about it:\n{registry.LogLinesContaining(repository)}");
        return string.Empty;
    }

    private static (JsonElement Header, JsonElement Claims) DecodeJwt(string jwt)
    {
        var parts = jwt.Split('.');
        Assert.HasCount(3, parts);
        return (Decode(parts[0]), Decode(parts[1]));

        static JsonElement Decode(string segment)
        {
            var base64 = segment.Replace('-', '+').Replace('_', '/');
            base64 = base64.PadRight(base64.Length + ((4 - (base64.Length % 4)) % 4), '=');
            using var document = JsonDocument.Parse(Convert.FromBase64String(base64));
            return document.RootElement.Clone();
        }
    }
}
