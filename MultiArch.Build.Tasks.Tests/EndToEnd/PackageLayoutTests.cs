using System.Diagnostics;
using System.IO.Compression;
using System.Text.Json;
using System.Xml.Linq;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.EndToEnd;

/// <summary>The package <c>eng/pack.sh</c> makes: its exact file list, the task folder, the nuspec.</summary>
[TestClass]
public sealed class PackageLayoutTests
{
    private const string TaskFolder = "tasks/net8.0/";
    private const string CorePropertiesFolder = "package/services/metadata/core-properties/";

    public TestContext TestContext { get; set; } = null!;

    [TestMethod]
    public async Task PackageHoldsExactlyTheTasksTheTargetsAndTheDocs()
    {
        var feed = await PackageFeed.GetAsync();
        using var package = feed.OpenPackage();

        // The core-properties part is named by a random id; everything else is fixed.
        var names = package.Entries
            .Select(e => e.FullName.StartsWith(CorePropertiesFolder, StringComparison.Ordinal) && e.FullName.EndsWith(".psmdcp", StringComparison.Ordinal) ? CorePropertiesFolder + "*.psmdcp" : e.FullName)
            .Order(StringComparer.Ordinal)
            .ToList();
        string[] expected =
        [
            "LICENSE",
            "MultiArch.Build.Tasks.nuspec",
            "README.md",
            "[Content_Types].xml",
            "_rels/.rels",
            "build/MultiArch.Build.Tasks.props",
            "build/MultiArch.Build.Tasks.targets",
            "buildMultiTargeting/MultiArch.Build.Tasks.props",
            "buildMultiTargeting/MultiArch.Build.Tasks.targets",
            CorePropertiesFolder + "*.psmdcp",
            TaskFolder + "MultiArch.Build.Tasks.deps.json",
            TaskFolder + "MultiArch.Build.Tasks.dll",
            TaskFolder + "YamlDotNet.dll",
        ];
        CollectionAssert.AreEqual(expected.Order(StringComparer.Ordinal).ToList(), names, "package entries:\n" + string.Join('\n', names));
        Assert.IsFalse(names.Any(n => Path.GetFileName(n).StartsWith("Microsoft.Build", StringComparison.OrdinalIgnoreCase)), "MSBuild's assemblies come from the MSBuild that loads the tasks");

        // The targets, forwarders and docs are the repository's files, byte for byte.
        foreach (var path in expected.Where(e => e.StartsWith("build", StringComparison.Ordinal) || e is "README.md" or "LICENSE"))
        {
            CollectionAssert.AreEqual(await File.ReadAllBytesAsync(Path.Combine(RepoPaths.Root, path), TestContext.CancellationToken), Read(package, path), path);
        }
    }

    [TestMethod]
    public async Task TaskFolderHasAFreshAssemblyAndADepsFileNamingYamlDotNetOnly()
    {
        var feed = await PackageFeed.GetAsync();
        using var package = feed.OpenPackage();

        // The .deps.json makes .NET's MSBuild resolve YamlDotNet next to the task, in the task's own load context.
        using var deps = JsonDocument.Parse(Read(package, TaskFolder + "MultiArch.Build.Tasks.deps.json"));
        var target = deps.RootElement.GetProperty("targets").GetProperty(".NETCoreApp,Version=v8.0");
        var libraries = target.EnumerateObject().Select(p => p.Name).ToList();
        Assert.HasCount(2, libraries, string.Join(", ", libraries));
        var self = target.GetProperty($"MultiArch.Build.Tasks/{feed.Version}");
        Assert.IsTrue(self.GetProperty("runtime").TryGetProperty("MultiArch.Build.Tasks.dll", out _));
        var yaml = libraries.Single(l => l.StartsWith("YamlDotNet/", StringComparison.Ordinal));
        Assert.AreEqual(yaml["YamlDotNet/".Length..], self.GetProperty("dependencies").GetProperty("YamlDotNet").GetString());
        var yamlRuntime = target.GetProperty(yaml).GetProperty("runtime").EnumerateObject().Select(p => p.Name).ToList();
        CollectionAssert.AreEqual(new[] { "lib/net8.0/YamlDotNet.dll" }, yamlRuntime);
        Assert.DoesNotContain("Microsoft.Build", deps.RootElement.GetRawText());

        // The assembly was built for this package (its informational version is the run's unique version).
        var assembly = Path.Combine(PackageFeed.RunDirectory, "layout-" + Guid.NewGuid().ToString("N"), "MultiArch.Build.Tasks.dll");
        Directory.CreateDirectory(Path.GetDirectoryName(assembly)!);
        package.GetEntry(TaskFolder + "MultiArch.Build.Tasks.dll")!.ExtractToFile(assembly);
        var productVersion = FileVersionInfo.GetVersionInfo(assembly).ProductVersion;
        Assert.IsNotNull(productVersion);
        Assert.StartsWith(feed.Version, productVersion);
    }

    [TestMethod]
    public async Task NuspecIsADevelopmentDependencyWithoutDependencies()
    {
        var feed = await PackageFeed.GetAsync();
        using var package = feed.OpenPackage();
        using var stream = package.GetEntry("MultiArch.Build.Tasks.nuspec")!.Open();
        var nuspec = XDocument.Load(stream);
        var ns = nuspec.Root!.Name.Namespace;
        var metadata = nuspec.Root.Element(ns + "metadata")!;

        Assert.AreEqual(PackageFeed.PackageId, metadata.Element(ns + "id")?.Value);
        Assert.AreEqual(feed.Version, metadata.Element(ns + "version")?.Value);
        Assert.AreEqual("true", metadata.Element(ns + "developmentDependency")?.Value);
        Assert.AreEqual("README.md", metadata.Element(ns + "readme")?.Value);
        var license = metadata.Element(ns + "license");
        Assert.AreEqual("expression", license?.Attribute("type")?.Value);
        Assert.AreEqual("MIT", license?.Value);
        Assert.IsFalse(string.IsNullOrWhiteSpace(metadata.Element(ns + "description")?.Value));

        // Nothing flows to the consuming project: no dependencies, framework references or content files.
        string[] absent = ["dependencies", "frameworkReferences", "frameworkAssemblies", "references", "contentFiles"];
        foreach (var name in absent)
        {
            Assert.IsNull(metadata.Element(ns + name), $"<{name}> in the nuspec:\n{nuspec}");
        }
    }

    private static byte[] Read(ZipArchive package, string path)
    {
        var entry = package.GetEntry(path) ?? throw new AssertFailedException($"The package has no '{path}'.");
        using var stream = entry.Open();
        using var buffer = new MemoryStream();
        stream.CopyTo(buffer);
        return buffer.ToArray();
    }
}
