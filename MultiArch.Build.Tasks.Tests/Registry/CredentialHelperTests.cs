using System.Diagnostics;
using MultiArch.Build.Tasks.Registry;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Registry;

/// <summary>
/// Docker credential helpers (<c>credHelpers</c>, <c>credsStore</c>) as real processes: small shell scripts put on PATH.
/// Found on PATH only, never by a path in their name nor in the current directory; killed after the timeout; at most
/// 64 KiB of output read; their output never echoed in an error.
/// </summary>
[TestClass]
public sealed class CredentialHelperTests
{
    private const string Registry = "registry.test:5000";

    public TestContext TestContext { get; set; } = null!;

    private CancellationToken Cancel => TestContext.CancellationToken;

    [TestMethod]
    public async Task CredHelpers_AnswerForTheirRegistryOnly()
    {
        using var helpers = new CredentialHelpers();
        helpers.Answering("canary", "helper-user", "helper-secret");
        helpers.Config($$"""{"credHelpers": {"{{Registry}}": "canary"}, "auths": {"registry.test:50000": {"auth": "eDp5"} } }""");
        var provider = Provider(helpers);

        var credential = await provider.GetCredentialAsync(Registry, RegistryAccess.Push, Cancel);
        var prefixed = await provider.GetCredentialAsync("registry.test:500", RegistryAccess.Push, Cancel);

        Assert.IsNotNull(credential);
        Assert.AreEqual("helper-user", credential.Username);
        Assert.AreEqual("helper-secret", credential.Password);
        Assert.AreEqual("the credential helper docker-credential-canary", credential.Source);
        Assert.DoesNotContain("helper-secret", credential.ToString());
        Assert.IsNull(prefixed, "keys match exactly: no prefix matching");
    }

    [TestMethod]
    public async Task CredsStore_AnswersForAnyRegistry_AndTokenUserMeansAnIdentityToken()
    {
        using var helpers = new CredentialHelpers();
        helpers.Answering("store", "<token>", "identity-token-canary");
        helpers.Config("""{"credsStore": "store"}""");

        var credential = await Provider(helpers).GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel);

        Assert.IsNotNull(credential);
        Assert.IsNull(credential.Username);
        Assert.AreEqual("identity-token-canary", credential.IdentityToken);
        Assert.AreEqual("the credential helper docker-credential-store", credential.Source);
    }

    [TestMethod]
    public async Task HelperThatHangs_IsKilledAfterTheTimeout_MULTIARCH1010()
    {
        using var helpers = new CredentialHelpers();
        var pidFile = Path.Combine(helpers.Directory, "pid");
        helpers.Script("hang", $"echo $$ > '{pidFile}'\nexec sleep 120");
        helpers.Config("""{"credsStore": "hang"}""");

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => Provider(helpers, TimeSpan.FromSeconds(1)).GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual("MULTIARCH1010", ex.Code);
        StringAssert.Contains(ex.Message, "The credential helper 'docker-credential-hang' for 'registry.test:5000' failed: it did not answer within 1 s.");
        Assert.IsLessThan(TimeSpan.FromSeconds(30), elapsed, "killed after the 1 s timeout, not after the helper's 120 s (a generous bound: the machine may be busy)");
        var pid = File.ReadAllText(pidFile).Trim();
        Assert.IsFalse(ReliabilityKit.IsRunning(pid), "the helper was killed");
    }

    [TestMethod]
    [DataRow(true, DisplayName = "endless output")]
    [DataRow(false, DisplayName = "1 MiB then exit 0")]
    public async Task HelperWritingMoreThan64KiB_IsStopped_AndNotEchoed(bool endless)
    {
        using var helpers = new CredentialHelpers();
        helpers.Script("chatty", endless
            ? "yes '{\"Username\":\"u\",\"Secret\":\"canary-overflow\"}'"
            : "head -c 1048576 /dev/zero | tr '\\0' 'x'; printf 'canary-overflow'");
        helpers.Config("""{"credsStore": "chatty"}""");

        var (elapsed, error) = await ReliabilityKit.TimeAsync(() => Provider(helpers).GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));

        var ex = error as MultiArchException ?? throw new AssertFailedException($"expected a MultiArchException, got {error}");
        Assert.AreEqual("MULTIARCH1010", ex.Code);
        StringAssert.Contains(ex.Message, "it wrote more than 64 KiB");
        Assert.DoesNotContain("canary-overflow", ex.ToString());
        Assert.IsLessThan(TimeSpan.FromSeconds(60), elapsed, "stopped, not read forever");
    }

    [TestMethod]
    [DataRow("exit 3", "it exited with code 3")]
    [DataRow("printf 'not json canary-echo'", "its output is not the JSON of the credential helper protocol")]
    [DataRow("printf '[\"canary-echo\"]'", "its output is not the JSON of the credential helper protocol")]
    public async Task HelperFailures_AreCoded_WithoutItsOutput(string body, string reason)
    {
        using var helpers = new CredentialHelpers();
        helpers.Script("broken", "printf 'canary-echo' >&2\nprintf 'canary-echo'\n" + body);
        helpers.Config("""{"credsStore": "broken"}""");

        var ex = await Assert.ThrowsAsync<MultiArchException>(() => Provider(helpers).GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));

        Assert.AreEqual("MULTIARCH1010", ex.Code);
        StringAssert.Contains(ex.Message, reason);
        Assert.DoesNotContain("canary-echo", ex.ToString());
    }

    [TestMethod]
    public async Task CredentialsNotFound_MeansAnonymous_AndAMissingHelperIsCoded()
    {
        using var helpers = new CredentialHelpers();
        helpers.Script("empty", "echo 'credentials not found in native keychain'\nexit 1");
        helpers.Config("""{"credHelpers": {"registry.test:5000": "empty", "other.test": "missing"} }""");
        var provider = Provider(helpers);

        Assert.IsNull(await provider.GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));
        var ex = await Assert.ThrowsAsync<MultiArchException>(() => provider.GetCredentialAsync("other.test", RegistryAccess.Pull, Cancel));
        Assert.AreEqual("MULTIARCH1010", ex.Code);
        StringAssert.Contains(ex.Message, "'docker-credential-missing' for 'other.test' failed: it was not found on PATH");
    }

    [TestMethod]
    [DataRow("../planted")]
    [DataRow("sub/planted")]
    [DataRow("/tmp/planted")]
    [DataRow("sub\\planted")]
    [DataRow("..")]
    [DataRow("")]
    public async Task HelperNameWithAPath_IsRefused_AndNothingRuns(string name)
    {
        using var helpers = new CredentialHelpers();
        var marker = Path.Combine(helpers.Directory, "ran");
        Directory.CreateDirectory(Path.Combine(helpers.Directory, "sub"));
        foreach (var planted in new[] { "docker-credential-../planted", "sub/docker-credential-planted", "docker-credential-sub/planted" })
        {
            var path = Path.GetFullPath(Path.Combine(helpers.Directory, planted));
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            CredentialHelpers.WriteScript(path, $"touch '{marker}'");
        }

        helpers.Config($$"""{"credsStore": "{{name.Replace("\\", "\\\\", StringComparison.Ordinal)}}"}""");

        var credential = name.Length == 0 ? null : await Assert.ThrowsAsync<MultiArchException>(() => Provider(helpers).GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));

        if (credential is not null)
        {
            Assert.AreEqual("MULTIARCH1010", credential.Code);
            StringAssert.Contains(credential.Message, "(no paths)");
        }

        Assert.IsFalse(File.Exists(marker), "nothing was run");
    }

    [TestMethod]
    public async Task HelperInTheCurrentDirectoryOrOnARelativePathEntry_IsNeverRun()
    {
        using var helpers = new CredentialHelpers();
        var name = "planted" + Guid.NewGuid().ToString("N")[..8];
        var marker = Path.Combine(helpers.Directory, "ran");
        var relative = Path.Combine("multiarch-relative-" + name);
        var planted = new[]
        {
            Path.Combine(Environment.CurrentDirectory, "docker-credential-" + name),
            Path.Combine(Environment.CurrentDirectory, relative, "docker-credential-" + name),
        };
        try
        {
            Directory.CreateDirectory(Path.Combine(Environment.CurrentDirectory, relative));
            foreach (var path in planted)
            {
                CredentialHelpers.WriteScript(path, $"touch '{marker}'");
            }

            helpers.Config($$"""{"credsStore": "{{name}}"}""");
            var environment = HelperEnvironment(helpers);
            environment["PATH"] = string.Join(Path.PathSeparator, ".", string.Empty, relative, helpers.Directory);
            var provider = new DefaultCredentialProvider(TestClients.Lookup(environment), NullBuildLog.Instance);

            var ex = await Assert.ThrowsAsync<MultiArchException>(() => provider.GetCredentialAsync(Registry, RegistryAccess.Pull, Cancel));

            StringAssert.Contains(ex.Message, "it was not found on PATH");
            Assert.IsFalse(File.Exists(marker), "the planted helper never ran");
        }
        finally
        {
            foreach (var path in planted)
            {
                File.Delete(path);
            }

            Directory.Delete(Path.Combine(Environment.CurrentDirectory, relative), recursive: true);
        }
    }

    private static DefaultCredentialProvider Provider(CredentialHelpers helpers, TimeSpan? timeout = null) =>
        new(TestClients.Lookup(HelperEnvironment(helpers)), NullBuildLog.Instance, timeout ?? TimeSpan.FromSeconds(10));

    private static Dictionary<string, string?> HelperEnvironment(CredentialHelpers helpers) => new(StringComparer.Ordinal)
    {
        ["DOCKER_CONFIG"] = helpers.ConfigDirectory,
        ["HOME"] = helpers.Directory,
        ["PATH"] = helpers.PathValue,
    };
}
