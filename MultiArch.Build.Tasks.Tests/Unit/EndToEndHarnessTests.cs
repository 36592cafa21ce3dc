using System.IO.Compression;
using System.Text;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>The end-to-end harness's own pieces that need no child build: environment scrubbing, property escaping, the secret scan.</summary>
[TestClass]
public sealed class EndToEndHarnessTests
{
    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public void ChildEnvironmentDropsInheritedCredentialRegistryAndMSBuildVariables()
    {
        string[] inherited =
        [
            "PATH", "DOTNET_CONTAINER_REGISTRY_PWORD", "DOTNET_CONTAINER_INSECURE_REGISTRIES", "SDK_CONTAINER_REGISTRY_UNAME",
            "MULTIARCH_REGISTRY_PASSWORD", "DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "MSBuildSDKsPath", "MSBUILD_EXE_PATH", "DOTNET_ROOT",
        ];
        var environment = TestProject.ScrubbedEnvironment(inherited, new Dictionary<string, string?> { ["MULTIARCH_REGISTRY_USERNAME"] = "set-by-test" });

        foreach (var name in new[] { "DOTNET_CONTAINER_REGISTRY_PWORD", "DOTNET_CONTAINER_INSECURE_REGISTRIES", "SDK_CONTAINER_REGISTRY_UNAME", "MULTIARCH_REGISTRY_PASSWORD", "REGISTRY_AUTH_FILE", "MSBuildSDKsPath", "MSBUILD_EXE_PATH" })
        {
            Assert.IsTrue(environment.TryGetValue(name, out var value) && value is null, name + " must be removed");
        }

        Assert.IsFalse(environment.ContainsKey("PATH"));
        Assert.IsFalse(environment.ContainsKey("DOTNET_ROOT"));
        Assert.AreEqual(TestProject.EmptyDockerConfigDirectory, environment["DOCKER_CONFIG"]);
        Assert.IsEmpty(Directory.EnumerateFileSystemEntries(TestProject.EmptyDockerConfigDirectory));
        Assert.AreEqual(TestProject.HomeDirectory, environment["HOME"]);
        Assert.AreEqual(TestProject.PackagesDirectory, environment["NUGET_PACKAGES"]);
        Assert.AreEqual("1", environment["MSBUILDDISABLENODEREUSE"]);
        Assert.AreEqual("set-by-test", environment["MULTIARCH_REGISTRY_USERNAME"]);
    }

    [TestMethod]
    public void PropertiesEscapeListSeparatorsSoAValueStaysOneProperty()
    {
        var arguments = TestProject.Properties(new Dictionary<string, string> { ["A"] = "linux/amd64;linux/arm64,linux/arm/v7", ["B"] = "100%" }).ToList();
        CollectionAssert.AreEqual(new[] { "-p:A=linux/amd64%3Blinux/arm64%2Clinux/arm/v7", "-p:B=100%25" }, arguments);
    }

    [TestMethod]
    [DataRow("")]
    [DataRow("x")]
    [DataRow("xy")]
    public void SecretFormsFindThePasswordInsideBase64AtEveryAlignment(string prefix)
    {
        const string Password = "canary-0123456789abcdef";
        var forms = SecretScan.FormsOf(Password, "tester");
        var base64 = Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(prefix + Password + "-suffix")));

        Assert.IsNotEmpty(SecretScan.Find([new ScannedPart("text", base64)], forms));
        Assert.IsEmpty(SecretScan.Find([new ScannedPart("text", Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(prefix + "canary-0123456789abcdeF"))))], forms));
    }

    [TestMethod]
    public void BinaryLogPartsIncludeTheDecompressedRecordsAndTheEmbeddedZipsFiles()
    {
        const string Password = "canary-fedcba9876543210";
        using var zip = new MemoryStream();
        using (var archive = new ZipArchive(zip, ZipArchiveMode.Create, leaveOpen: true))
        {
            using var writer = new StreamWriter(archive.CreateEntry("\\tmp\\app.csproj", CompressionLevel.Optimal).Open());
            writer.Write("<Project><PropertyGroup><P>" + Password + "</P></PropertyGroup></Project>");
        }

        var path = Path.Combine(Path.GetTempPath(), "multiarch-tests", "scan-" + Guid.NewGuid().ToString("N") + ".binlog");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        try
        {
            using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Optimal))
            {
                gzip.Write("records before the archive PK\u0005\u0006 (a stray signature)"u8);
                gzip.Write(zip.ToArray());
                gzip.Write("records after"u8);
            }

            var parts = SecretScan.BinaryLogParts(path);
            CollectionAssert.AreEqual(new[] { "binlog file", "binlog records", "binlog import: \\tmp\\app.csproj" }, parts.Select(p => p.Name).ToList());
            var findings = SecretScan.Find(parts, SecretScan.FormsOf(Password, "tester"));
            CollectionAssert.AreEqual(new[] { $"{SecretScan.PlainForm} in binlog import: \\tmp\\app.csproj at byte 27" }, findings.ToList());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
