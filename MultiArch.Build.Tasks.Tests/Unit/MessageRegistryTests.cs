using System.Reflection;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using MultiArch.Build.Tasks.Tests.Infrastructure;

namespace MultiArch.Build.Tasks.Tests.Unit;

/// <summary>One registry of codes: each code unique, each message id present, each error message saying how to fix it.</summary>
[TestClass]
public sealed partial class MessageRegistryTests
{
    private static XDocument Resx => XDocument.Load(Path.Combine(RepoPaths.Root, "MultiArch.Build.Tasks", "Resources", "Strings.resx"));

    [TestMethod]
    public void CodesAreUniqueAndWellFormed()
    {
        var codes = Resx.Root!.Elements("data")
            .Select(d => d.Element("value")!.Value)
            .Where(v => v.StartsWith("MULTIARCH", StringComparison.Ordinal))
            .Select(v => v[..v.IndexOf(':', StringComparison.Ordinal)])
            .ToList();
        Assert.IsGreaterThan(20, codes.Count);
        foreach (var code in codes)
        {
            Assert.IsTrue(CodePattern().IsMatch(code), code);
        }

        var duplicates = codes.GroupBy(c => c).Where(g => g.Count() > 1).Select(g => g.Key).ToList();
        Assert.IsEmpty(duplicates, "duplicate codes: " + string.Join(", ", duplicates));
    }

    [TestMethod]
    public void EveryMessageIdExistsAndFormats()
    {
        var names = Resx.Root!.Elements("data").Select(d => d.Attribute("name")!.Value).ToHashSet();
        foreach (var field in typeof(MessageId).GetFields(BindingFlags.Public | BindingFlags.Static))
        {
            var id = (string)field.GetValue(null)!;
            Assert.Contains(id, names, $"MessageId.{field.Name} has no entry in Strings.resx");
            var (_, text) = Messages.Format(id, "a", "b", "c", "d", "e", "f");
            Assert.IsFalse(string.IsNullOrWhiteSpace(text));
        }
    }

    [TestMethod]
    public void CodesInTargetsComeFromTheRegistry()
    {
        var known = Resx.Root!.Elements("data").Select(d => d.Element("value")!.Value).Where(v => v.StartsWith("MULTIARCH", StringComparison.Ordinal)).Select(v => v[..13]).ToHashSet();
        foreach (var file in Directory.GetFiles(Path.Combine(RepoPaths.Root, "build"), "*.targets"))
        {
            foreach (Match match in TargetCode().Matches(File.ReadAllText(file)))
            {
                Assert.Contains(match.Value, known, $"{Path.GetFileName(file)} uses {match.Value}, which Strings.resx does not define");
            }
        }
    }

    /// <summary>The NEXT FREE note names, for every group, the code after the highest one in use.</summary>
    [TestMethod]
    public void NextFreeNote_NamesTheCodeAfterTheHighestOfEachGroup()
    {
        var resx = Resx;
        var used = resx.Root!.Elements("data").Select(d => d.Element("value")!.Value)
            .Where(v => v.StartsWith("MULTIARCH", StringComparison.Ordinal))
            .Select(v => int.Parse(v[9..13], System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var note = resx.Root.Nodes().OfType<XComment>().Single(c => c.Value.Contains("NEXT FREE:", StringComparison.Ordinal)).Value;
        var expected = used.GroupBy(code => code / 1000).OrderBy(g => g.Key).Select(g => $"MULTIARCH{g.Max() + 1}");

        var named = TargetCode().Matches(note.Split('(')[0]).Select(m => m.Value);

        Assert.AreEqual(string.Join(", ", expected), string.Join(", ", named), "the NEXT FREE note in Strings.resx: " + note);
    }

    [GeneratedRegex("^MULTIARCH[1-5][0-9]{3}$")]
    private static partial Regex CodePattern();

    [GeneratedRegex("MULTIARCH[0-9]{4}")]
    private static partial Regex TargetCode();
}
