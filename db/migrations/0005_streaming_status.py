from tortoise import migrations
from tortoise.migrations import operations as ops
from db.records import MessageStatus
from tortoise import fields

class Migration(migrations.Migration):
    dependencies = [('models', '0004_decider_role')]

    initial = False

    operations = [
        ops.AlterField(
            model_name='Message',
            name='status',
            field=fields.CharEnumField(default=MessageStatus.COMPLETE, description='COMPLETE: complete\nINTERRUPTED: interrupted\nCANCELLED: cancelled\nSTREAMING: streaming', enum_type=MessageStatus, max_length=11),
        ),
    ]
