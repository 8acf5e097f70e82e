from tortoise import migrations
from tortoise.migrations import operations as ops
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0010_users')]

    initial = False

    operations = [
        ops.AlterModelOptions(
            name='AllowRule',
            options={'table': 'allow_rules', 'app': 'models', 'pk_attr': 'id', 'table_description': 'A rule of one session: allow or deny calls of a tool by a command prefix or path glob.'},
        ),
        ops.AddField(
            model_name='AllowRule',
            name='effect',
            field=fields.CharField(default='allow', max_length=8),
        ),
    ]
